"""The gallery's API URLs, included by gallery.config.api_urls under /api/v1/ (namespace "api")."""

from django.urls import path

from gallery.accounts import api as accounts_api
from gallery.api import albums, photos, uploads

_upload_actions = {"get": "retrieve", "head": "info", "patch": "partial_update", "delete": "destroy"}

urlpatterns = [
    path("auth/token/", accounts_api.TokenCreateApi.as_view(), name="token"),
    path("auth/tokens/", accounts_api.TokenListApi.as_view(), name="tokens"),
    path("auth/tokens/<str:token_id>/", accounts_api.TokenDetailApi.as_view(), name="token_detail"),
    path("photos/", photos.PhotoListCreateApi.as_view(), name="photos"),
    path("photos/<uuid:photo_id>/", photos.PhotoDetailApi.as_view(), name="photo"),
    path("photos/<uuid:photo_id>/original/", photos.PhotoOriginalApi.as_view(), name="photo_original"),
    path("photos/<uuid:photo_id>/display/", photos.PhotoDisplayApi.as_view(), name="photo_display"),
    path("photos/<uuid:photo_id>/thumbnails/<str:name>/", photos.PhotoThumbnailApi.as_view(), name="photo_thumbnail"),
    path("photos/<uuid:photo_id>/overlay/", photos.PhotoOverlayApi.as_view(), name="photo_overlay"),
    path("photos/<uuid:photo_id>/retry/", photos.PhotoAnalysisRetryApi.as_view(), name="photo_retry"),
    path("public/photos/", photos.PublicPhotoListApi.as_view(), name="public_photos"),
    path("albums/", albums.AlbumListCreateApi.as_view(), name="albums"),
    path("albums/<uuid:album_id>/", albums.AlbumDetailApi.as_view(), name="album"),
    path("albums/<uuid:album_id>/photos/", albums.AlbumPhotosApi.as_view(), name="album_photos"),
    path("albums/<uuid:album_id>/photos/<uuid:photo_id>/", albums.AlbumPhotoApi.as_view(), name="album_photo"),
    path("uploads/", uploads.PhotoUploadViewSet.as_view({"post": "create"}), name="uploads"),
    path("uploads/<uuid:guid>/", uploads.PhotoUploadViewSet.as_view(_upload_actions), name="upload"),
]
