"""REST API v1: albums, private to their owner.

Thin adapters: serializers translate, gallery.services writes, gallery.selectors reads.
"""

from __future__ import annotations

from django.http import Http404
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from gallery import selectors, services
from gallery.api.photos import PHOTO_ID_PARAMETER
from gallery.models import Album
from gallery.platform.api.errors import ApiError, errors

TAG_ALBUMS = "albums"


class AlbumSerializer(serializers.ModelSerializer):
    """An album as gallery.selectors.album_list gives it: with its photo count and cover."""

    photo_count = serializers.IntegerField(read_only=True)
    cover_photo = serializers.UUIDField(source="cover_id", allow_null=True, read_only=True,
                                        help_text="The photo with the clearest subject (highest saliency focus).")
    cover_thumbnail = serializers.SerializerMethodField()
    photos_url = serializers.SerializerMethodField()

    class Meta:
        model = Album
        fields = ["id", "title", "photo_count", "cover_photo", "cover_thumbnail", "created", "updated", "photos_url"]
        read_only_fields = fields

    def _absolute(self, url: str) -> str:
        request = self.context.get("request")
        return request.build_absolute_uri(url) if request else url

    @extend_schema_field(serializers.URLField(allow_null=True, help_text="The cover's saliency-cropped 4:3 thumbnail."))
    def get_cover_thumbnail(self, album: Album) -> str | None:
        cover = getattr(album, "cover", None)
        if cover is None or not cover.thumbnail_wide:
            return None
        version = cover.thumbnail_url("wide").partition("?")[2]
        return self._absolute(f"{reverse('api:photo_thumbnail', args=[cover.id, 'wide'])}?{version}")

    def get_photos_url(self, album: Album) -> str:
        return self._absolute(reverse("api:photos") + f"?album={album.id}")


class AlbumTitleSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=120)


class AlbumPhotosSerializer(serializers.Serializer):
    photos = serializers.ListField(child=serializers.UUIDField(), min_length=1, max_length=500,
                                   help_text="Ids of your photos.")


class AlbumPhotosAddedSerializer(serializers.Serializer):
    added = serializers.IntegerField(help_text="How many were not in the album before.")


def _album_owned(request, album_id) -> Album:
    album = selectors.album_get_owned(owner=request.user, album_id=album_id)
    if album is None:
        raise Http404
    return album


def _album_response(request, album: Album, *, status_code: int = 200) -> Response:
    [album] = selectors.album_list(owner=request.user, album_id=album.id)  # with its count and cover
    return Response(AlbumSerializer(album, context={"request": request}).data, status=status_code)


_ALBUM_ID = OpenApiParameter("album_id", OpenApiTypes.UUID, OpenApiParameter.PATH)


class AlbumListCreateApi(APIView):
    parser_classes = [JSONParser, FormParser, MultiPartParser]

    @extend_schema(tags=[TAG_ALBUMS], operation_id="albums_list", summary="Your albums (private to you)",
                   responses={200: AlbumSerializer(many=True), **errors(401)})
    def get(self, request):
        albums = selectors.album_list(owner=request.user)
        return Response(AlbumSerializer(albums, many=True, context={"request": request}).data)

    @extend_schema(tags=[TAG_ALBUMS], operation_id="albums_create", request=AlbumTitleSerializer,
                   responses={201: AlbumSerializer,
                              **errors(400, 401, 409, e409="You already have an album so named.")})
    def post(self, request):
        data = AlbumTitleSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        album = services.album_create(owner=request.user, title=data.validated_data["title"])
        return _album_response(request, album, status_code=status.HTTP_201_CREATED)


class AlbumDetailApi(APIView):
    parser_classes = [JSONParser, FormParser, MultiPartParser]

    @extend_schema(tags=[TAG_ALBUMS], operation_id="albums_retrieve", parameters=[_ALBUM_ID],
                   responses={200: AlbumSerializer, **errors(401, 404)})
    def get(self, request, album_id):
        return _album_response(request, _album_owned(request, album_id))

    @extend_schema(tags=[TAG_ALBUMS], operation_id="albums_rename", parameters=[_ALBUM_ID],
                   request=AlbumTitleSerializer, responses={200: AlbumSerializer, **errors(400, 401, 404, 409)})
    def patch(self, request, album_id):
        album = _album_owned(request, album_id)
        data = AlbumTitleSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return _album_response(request, services.album_rename(album=album, title=data.validated_data["title"]))

    @extend_schema(tags=[TAG_ALBUMS], operation_id="albums_destroy", parameters=[_ALBUM_ID],
                   summary="Delete an album; its photos stay", responses={204: None, **errors(401, 404)})
    def delete(self, request, album_id):
        services.album_delete(album=_album_owned(request, album_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class AlbumPhotosApi(APIView):
    parser_classes = [JSONParser]

    @extend_schema(tags=[TAG_ALBUMS], operation_id="albums_photos_add", parameters=[_ALBUM_ID],
                   summary="Add your photos to the album (list them with GET /api/v1/photos/?album=)",
                   request=AlbumPhotosSerializer,
                   responses={200: AlbumPhotosAddedSerializer, **errors(400, 401, 404)})
    def post(self, request, album_id):
        album = _album_owned(request, album_id)
        data = AlbumPhotosSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        wanted = set(data.validated_data["photos"])
        images = selectors.image_list_owned_by_ids(owner=request.user, image_ids=wanted)
        unknown = wanted - {image.id for image in images}
        if unknown:
            # Someone else's photo is reported exactly like one that does not exist.
            messages = [f"No photo {photo_id} of yours." for photo_id in sorted(map(str, unknown))]
            raise ApiError(status_code=400, code="unknown_photos", message="Some of these are not your photos.",
                           fields={"photos": messages})
        added = services.album_images_add(album=album, images=images)
        return Response({"added": added})


class AlbumPhotoApi(APIView):
    @extend_schema(tags=[TAG_ALBUMS], operation_id="albums_photos_remove", parameters=[_ALBUM_ID, PHOTO_ID_PARAMETER],
                   summary="Take a photo out of the album (the photo stays)", responses={204: None, **errors(401, 404)})
    def delete(self, request, album_id, photo_id):
        album = _album_owned(request, album_id)
        image = selectors.image_get_owned(owner=request.user, image_id=photo_id)
        if image is None or not services.album_images_remove(album=album, images=[image]):
            raise Http404
        return Response(status=status.HTTP_204_NO_CONTENT)
