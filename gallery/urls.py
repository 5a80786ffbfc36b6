from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from gallery import api_auth, api_common, views

gallery_patterns = [
    path("", views.explore, name="explore"),
    path("mine/", views.mine, name="mine"),
    path("upload/", views.upload, name="upload"),
    path("photos/<uuid:image_id>/file", views.image_file, name="file"),
    path("photos/<uuid:image_id>/original", views.image_original, name="original"),
    path("photos/<uuid:image_id>/thumbnail/<str:name>.jpg", views.image_thumbnail, name="thumbnail"),
    path("photos/<uuid:image_id>/edit", views.image_edit, name="edit"),
    path("photos/<uuid:image_id>/delete", views.image_delete, name="delete"),
]

urlpatterns = [
    path("", include((gallery_patterns, "gallery"))),
    path("", include("search.urls")),
    path("", include("inference.urls")),
    path("accounts/signup/", views.signup, name="signup"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    # The stable sign-in URL for apps (also at /api/v1/auth/token/): username + password -> token.
    path("api/token/", api_auth.TokenCreateUnversionedApi.as_view(), name="api_token"),
    path("api/v1/", include("gallery.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api_schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api_schema"), name="api_docs"),
    path("admin/", admin.site.urls),
]

# Unknown URLs under /api/ answer in the API's error shape; pages keep Django's 404 page.
handler404 = api_common.not_found_view
