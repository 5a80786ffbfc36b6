from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from gallery import api_auth, views
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
]

urlpatterns = [
    path("favicon.ico", views.favicon, name="favicon"),
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
    # The stable sign-in URL for apps (also at /api/v1/auth/token/): username + password -> token.
    path("api/token/", api_auth.TokenCreateUnversionedApi.as_view(), name="api_token"),
    path("api/v1/", include("gallery.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api_schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api_schema"), name="api_docs"),
    path("admin/", admin.site.urls),
]

# The site's own error pages (never Django's debug pages); JSON in the API's error shape under /api/.
handler400 = "gallery.error_views.bad_request"
handler403 = "gallery.error_views.permission_denied"
handler404 = "gallery.error_views.page_not_found"
handler500 = "gallery.error_views.server_error"
