from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from rest_framework.authtoken.views import obtain_auth_token

from gallery import api, views

gallery_patterns = [
    path("", views.explore, name="explore"),
    path("mine/", views.mine, name="mine"),
    path("upload/", views.upload, name="upload"),
    path("photos/<uuid:image_id>/file", views.image_file, name="file"),
    path("photos/<uuid:image_id>/original", views.image_original, name="original"),
    path("photos/<uuid:image_id>/thumbnail/<str:name>.jpg", views.image_thumbnail, name="thumbnail"),
    path("photos/<uuid:image_id>/edit", views.image_edit, name="edit"),
    path("photos/<uuid:image_id>/delete", views.image_delete, name="delete"),
    path("api/images/", api.ImageListCreateApi.as_view(), name="api_images"),
    path("api/images/<uuid:image_id>/", api.ImageDetailApi.as_view(), name="api_image"),
    path("api/explore/", api.ExploreApi.as_view(), name="api_explore"),
]

urlpatterns = [
    path("", include((gallery_patterns, "gallery"))),
    path("", include("search.urls")),
    path("", include("inference.urls")),
    path("accounts/signup/", views.signup, name="signup"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("api/token/", obtain_auth_token, name="api_token"),
    path("admin/", admin.site.urls),
]
