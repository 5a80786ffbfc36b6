from django.contrib import admin
from django.urls import include, path

from gallery import api, views
from gallery.accounts import api as accounts_api
from gallery.accounts import views as accounts_views

gallery_patterns = [
    path("", views.explore, name="explore"),
    path("mine/", views.mine, name="mine"),
    path("upload/", views.upload, name="upload"),
    path("photos/status.json", views.photos_status, name="photos_status"),
    path("photos/<uuid:image_id>/albums", views.album_add_image, name="album_add_image"),
    path("albums/", views.album_index, name="albums"),
    path("albums/<uuid:album_id>/", views.album_detail, name="album"),
    path("albums/<uuid:album_id>/rename", views.album_rename, name="album_rename"),
    path("albums/<uuid:album_id>/delete", views.album_delete, name="album_delete"),
    path("albums/<uuid:album_id>/photos/<uuid:image_id>/remove", views.album_remove_image, name="album_remove_image"),
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
    path("accounts/signup/", accounts_views.signup, name="signup"),
    path("accounts/profile/", accounts_views.profile, name="profile"),
    path("accounts/delete/", accounts_views.account_delete, name="account_delete"),
    # Before django.contrib.auth.urls, whose views of the same names these replace.
    path("accounts/password_change/", accounts_views.PasswordChangeView.as_view(), name="password_change"),
    path("accounts/reset/<uidb64>/<token>/", accounts_views.PasswordResetConfirmView.as_view(),
         name="password_reset_confirm"),
    # login, logout, password_change(_done), password_reset(_done, _confirm, _complete)
    path("accounts/", include("django.contrib.auth.urls")),
    path("api/token/", accounts_api.TokenObtainApi.as_view(), name="api_token"),
    path("admin/", admin.site.urls),
]
