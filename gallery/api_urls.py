"""Every URL of the REST API, version 1, in one place (included under /api/v1/ as namespace "api")."""

from django.urls import path

from gallery import api, api_auth, api_uploads
from inference import api as inference_api
from search import api as search_api

app_name = "api"

_upload_actions = {"get": "retrieve", "head": "info", "patch": "partial_update", "delete": "destroy"}

urlpatterns = [
    path("auth/token/", api_auth.TokenCreateApi.as_view(), name="token"),
    path("auth/tokens/", api_auth.TokenListApi.as_view(), name="tokens"),
    path("auth/tokens/<str:token_id>/", api_auth.TokenDetailApi.as_view(), name="token_detail"),
    path("photos/", api.PhotoListCreateApi.as_view(), name="photos"),
    path("photos/<uuid:photo_id>/", api.PhotoDetailApi.as_view(), name="photo"),
    path("photos/<uuid:photo_id>/original/", api.PhotoOriginalApi.as_view(), name="photo_original"),
    path("photos/<uuid:photo_id>/display/", api.PhotoDisplayApi.as_view(), name="photo_display"),
    path("photos/<uuid:photo_id>/thumbnails/<str:name>/", api.PhotoThumbnailApi.as_view(), name="photo_thumbnail"),
    path("photos/<uuid:photo_id>/overlay/", api.PhotoOverlayApi.as_view(), name="photo_overlay"),
    path("photos/<uuid:photo_id>/similar/", search_api.PhotoSimilarApi.as_view(), name="photo_similar"),
    path("photos/<uuid:photo_id>/retry/", inference_api.PhotoAnalysisRetryApi.as_view(), name="photo_retry"),
    path("public/photos/", api.PublicPhotoListApi.as_view(), name="public_photos"),
    path("albums/", api.AlbumListCreateApi.as_view(), name="albums"),
    path("albums/<uuid:album_id>/", api.AlbumDetailApi.as_view(), name="album"),
    path("albums/<uuid:album_id>/photos/", api.AlbumPhotosApi.as_view(), name="album_photos"),
    path("albums/<uuid:album_id>/photos/<uuid:photo_id>/", api.AlbumPhotoApi.as_view(), name="album_photo"),
    path("uploads/", api_uploads.PhotoUploadViewSet.as_view({"post": "create"}), name="uploads"),
    path("uploads/<uuid:guid>/", api_uploads.PhotoUploadViewSet.as_view(_upload_actions), name="upload"),
    path("searches/", search_api.SearchCreateApi.as_view(), name="searches"),
    path("searches/<uuid:search_id>/", search_api.SearchDetailApi.as_view(), name="search"),
]
