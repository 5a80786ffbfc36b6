"""REST API v1: photos (yours and everyone's public ones) and their files.

Thin adapters: serializers translate, gallery.services writes, gallery.selectors reads. URLs are in
gallery.api.urls; errors, throttles and paging in gallery.platform.api.
"""

from __future__ import annotations

from django.http import FileResponse, Http404
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from gallery import selectors, services
from gallery.heatmaps import heatmap_response
from gallery.models import AnalysisStatus, Image, Visibility
from gallery.platform import media
from gallery.platform.api.errors import ApiError, api_error_from_validation, errors
from gallery.platform.api.pagination import NewestFirstCursorPagination
from gallery.platform.api.throttles import AnonThrottle, ScopedThrottle, UserThrottle
from gallery.platform.api.uploads import uploaded_bytes
from inference.selectors import image_analyses_shown, image_analysis_shown
from inference.services import RetryRefused, image_analysis_retry

TAG_PHOTOS, TAG_PUBLIC = "photos", "public photos"


# --- output ---------------------------------------------------------------------------------------

class CropBoxSerializer(serializers.Serializer):
    left = serializers.IntegerField()
    top = serializers.IntegerField()
    right = serializers.IntegerField(help_text="Exclusive.")
    bottom = serializers.IntegerField(help_text="Exclusive.")


class PhotoAnalysisSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=AnalysisStatus.choices)
    error = serializers.CharField(help_text="Why the analysis failed; empty otherwise.")
    model_version = serializers.CharField(allow_null=True, help_text="The models that made the analysis shown.")
    crop_box = CropBoxSerializer(allow_null=True, help_text="The salient crop, in pixels of the upright photo.")


class PhotoUrlsSerializer(serializers.Serializer):
    display = serializers.URLField(allow_null=True, help_text="Re-encoded copy without metadata (JPEG).")
    original = serializers.URLField(
        allow_null=True, help_text="The exact uploaded bytes, as a download; owner only (null for others).")
    thumbnail_square = serializers.URLField(allow_null=True, help_text="Saliency-cropped square thumbnail.")
    thumbnail_wide = serializers.URLField(allow_null=True, help_text="Saliency-cropped 4:3 thumbnail.")
    overlay = serializers.URLField(allow_null=True, help_text="Saliency heat map (PNG) once analysed.")
    page = serializers.URLField(help_text="The photo's web page.")


class PhotoSummarySerializer(serializers.ModelSerializer):
    """A photo without its analysis: what search results and other lists embed."""

    owner = serializers.CharField(source="owner.username", read_only=True)
    urls = serializers.SerializerMethodField()

    class Meta:
        model = Image
        fields = ["id", "title", "visibility", "owner", "width", "height", "created", "taken_at",
                  "analysis_status", "urls"]
        read_only_fields = fields

    def _absolute(self, url: str | None) -> str | None:
        request = self.context.get("request")
        return request.build_absolute_uri(url) if url and request else url

    def _is_owner(self, image: Image) -> bool:
        request = self.context.get("request")
        return bool(request and request.user.is_authenticated and request.user.id == image.owner_id)

    def _overlay_url(self, image: Image) -> str | None:
        analysis = self.context.get("analyses", {}).get(image.id)
        return reverse("api:photo_overlay", args=[image.id]) if analysis and analysis.has_heatmap else None

    @extend_schema_field(PhotoUrlsSerializer)
    def get_urls(self, image: Image) -> dict:
        # API URLs, so a token opens them as well as a session; renditions carry their version,
        # as on the pages, so clients may cache them.
        def rendition(field, page_url: str, url_name: str, *args) -> str | None:
            version = page_url.partition("?")[2]
            return f"{reverse(url_name, args=[image.id, *args])}?{version}" if field else None

        return {
            "display": self._absolute(rendition(image.display, image.display_url, "api:photo_display")),
            "original": self._absolute(
                reverse("api:photo_original", args=[image.id]) if self._is_owner(image) else None),
            "thumbnail_square": self._absolute(rendition(image.thumbnail_square, image.thumbnail_url("square"),
                                                         "api:photo_thumbnail", "square")),
            "thumbnail_wide": self._absolute(rendition(image.thumbnail_wide, image.thumbnail_url("wide"),
                                                       "api:photo_thumbnail", "wide")),
            "overlay": self._absolute(self._overlay_url(image)),
            "page": self._absolute(image.get_absolute_url()),
        }


class PhotoSerializer(PhotoSummarySerializer):
    """A photo with its analysis. The view puts {image_id: analysis} for the page in the context
    (inference.selectors.image_analyses_shown), so a list costs one query whatever its length."""

    analysis = serializers.SerializerMethodField()

    class Meta(PhotoSummarySerializer.Meta):
        fields = ["id", "title", "visibility", "owner", "width", "height", "size_bytes", "content_type",
                  "sha256", "created", "taken_at", "analysis_status", "analysis", "urls"]
        read_only_fields = fields

    @extend_schema_field(PhotoAnalysisSerializer)
    def get_analysis(self, image: Image) -> dict:
        analysis = self.context.get("analyses", {}).get(image.id)
        box = analysis.crop_box if analysis else None
        return {
            "status": image.analysis_status,
            "error": image.analysis_error,
            "model_version": analysis.model_version if analysis else None,
            "crop_box": dict(zip(("left", "top", "right", "bottom"), box, strict=True)) if box else None,
        }


def photo_data(request, images: list[Image]) -> list[dict]:
    analyses = image_analyses_shown(image_ids=[image.id for image in images]) if images else {}
    return PhotoSerializer(images, many=True, context={"request": request, "analyses": analyses}).data


# --- photos ---------------------------------------------------------------------------------------

class PhotoFilterSerializer(serializers.Serializer):
    album = serializers.UUIDField(required=False, help_text="Only photos in this album of yours.")
    visibility = serializers.ChoiceField(choices=Visibility.choices, required=False)
    status = serializers.ChoiceField(choices=AnalysisStatus.choices, required=False, help_text="Analysis status.")
    taken_after = serializers.DateTimeField(required=False, help_text="Taken at or after (EXIF date).")
    taken_before = serializers.DateTimeField(required=False, help_text="Taken at or before (EXIF date).")
    uploaded_after = serializers.DateTimeField(required=False)
    uploaded_before = serializers.DateTimeField(required=False)


class PhotoUploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="JPEG, PNG, WebP, GIF, BMP or TIFF; the extension must match.")
    title = serializers.CharField(max_length=200, required=False, allow_blank=True, default="",
                                  help_text="Defaults to the file name.")
    visibility = serializers.ChoiceField(choices=Visibility.choices, default=Visibility.PRIVATE)


class PhotoUpdateSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=200, required=False, allow_blank=True)
    visibility = serializers.ChoiceField(choices=Visibility.choices, required=False)


def photo_create_response(request, *, upload, title: str, visibility: str) -> Response:
    """Upload through the one service. The same bytes sent again by the same owner (a retry after
    a dropped connection) answer 200 with the photo they already made, never a second photo."""
    try:
        image = services.image_create(owner=request.user, data=uploaded_bytes(upload), filename=upload.name or "",
                                      title=title, visibility=visibility)
        created = True
    except services.DuplicateImage as exc:
        image, created = exc.existing, False
    except services.ImageRejected as exc:
        raise api_error_from_validation(exc, field="file") from None
    headers = {"Location": request.build_absolute_uri(reverse("api:photo", args=[image.id]))}
    return Response(photo_data(request, [image])[0], headers=headers,
                    status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class PhotoListCreateApi(GenericAPIView):
    parser_classes = [MultiPartParser, FormParser]
    pagination_class = NewestFirstCursorPagination
    throttle_classes = [AnonThrottle, UserThrottle, ScopedThrottle]
    serializer_class = PhotoSerializer

    def get_throttles(self):
        self.throttle_scope = "uploads" if self.request.method == "POST" else None
        return super().get_throttles()

    @extend_schema(tags=[TAG_PHOTOS], operation_id="photos_list", summary="List your photos, newest first",
                   parameters=[PhotoFilterSerializer], responses={200: PhotoSerializer(many=True), **errors(400, 401)})
    def get(self, request):
        filters = PhotoFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        params = filters.validated_data
        photos = selectors.image_queryset_owned(owner=request.user, filters=selectors.ImageFilters(
            album_id=str(params.get("album") or ""), visibility=params.get("visibility", ""),
            status=params.get("status", ""), taken_after=params.get("taken_after"),
            taken_before=params.get("taken_before"), uploaded_after=params.get("uploaded_after"),
            uploaded_before=params.get("uploaded_before"),
        ))
        page = self.paginate_queryset(photos)
        return self.get_paginated_response(photo_data(request, page))

    @extend_schema(
        tags=[TAG_PHOTOS], operation_id="photos_upload", summary="Upload a photo (multipart)",
        description=(
            "Safe to retry: the same bytes from the same owner are one photo. The first upload answers "
            "**201**; sending the same file again (e.g. after a dropped connection) answers **200** with "
            "the photo it already made, unchanged. Files too big for one request: use `/api/v1/uploads/` (tus)."
        ),
        request=PhotoUploadSerializer,
        parameters=[OpenApiParameter("Location", OpenApiTypes.URI, OpenApiParameter.HEADER, response=[200, 201],
                                     description="The photo's API URL.")],
        responses={
            201: OpenApiResponse(PhotoSerializer, description="A new photo; analysis is queued."),
            200: OpenApiResponse(PhotoSerializer, description="These bytes were already your photo."),
            **errors(400, 401, 413, 415),
        },
    )
    def post(self, request):
        upload = PhotoUploadSerializer(data=request.data)
        upload.is_valid(raise_exception=True)
        data = upload.validated_data
        return photo_create_response(request, upload=data["file"], title=data["title"], visibility=data["visibility"])


PHOTO_ID_PARAMETER = OpenApiParameter("photo_id", OpenApiTypes.UUID, OpenApiParameter.PATH)


class PhotoDetailApi(APIView):
    parser_classes = [JSONParser, MultiPartParser, FormParser]

    def get_permissions(self):
        # Public photos are readable without an account, like their web pages.
        return [AllowAny()] if self.request.method == "GET" else super().get_permissions()

    @extend_schema(tags=[TAG_PHOTOS], operation_id="photos_retrieve", parameters=[PHOTO_ID_PARAMETER],
                   summary="One photo: yours, or anyone's public photo",
                   responses={200: PhotoSerializer, **errors(404)})
    def get(self, request, photo_id):
        image = selectors.image_get_visible(viewer=request.user, image_id=photo_id)
        if image is None:
            raise Http404
        return Response(photo_data(request, [image])[0])

    @extend_schema(tags=[TAG_PHOTOS], operation_id="photos_update", parameters=[PHOTO_ID_PARAMETER],
                   summary="Change title or visibility", request=PhotoUpdateSerializer,
                   responses={200: PhotoSerializer, **errors(400, 401, 403, 404)})
    def patch(self, request, photo_id):
        image = self._owned(request, photo_id)
        changes = PhotoUpdateSerializer(data=request.data)
        changes.is_valid(raise_exception=True)
        image = services.image_update(image=image, **changes.validated_data)
        return Response(photo_data(request, [image])[0])

    @extend_schema(tags=[TAG_PHOTOS], operation_id="photos_destroy", parameters=[PHOTO_ID_PARAMETER],
                   summary="Delete a photo and everything derived from it",
                   responses={204: None, **errors(401, 403, 404)})
    def delete(self, request, photo_id):
        services.image_delete(image=self._owned(request, photo_id))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @staticmethod
    def _owned(request, photo_id) -> Image:
        image = selectors.image_get_owned(owner=request.user, image_id=photo_id)
        if image is not None:
            return image
        if selectors.image_get_visible(viewer=request.user, image_id=photo_id) is not None:
            raise ApiError(status_code=403, code="permission_denied", message="Only its owner can change a photo.")
        raise Http404


class _FileApi(APIView):
    """Serves a file to a token or a session. Errors are JSON whatever the client's Accept header."""

    permission_classes = [AllowAny]

    def perform_content_negotiation(self, request, force=False):
        return super().perform_content_negotiation(request, force=True)

    @staticmethod
    def _visible(request, photo_id) -> Image:
        image = selectors.image_get_visible(viewer=request.user, image_id=photo_id)
        if image is None:
            raise Http404
        return image

    @staticmethod
    def _file_response(image: Image, field, content_type: str) -> FileResponse:
        if not field:
            raise Http404
        # Every URL to a file carries its version (or the overlay's short life): safe to cache.
        return media.file_response(field, content_type=content_type,
                                   cache_control=f"{'public' if image.is_public else 'private'}, max-age=86400")


def _file_schema(summary: str, content_type: str, *, owner_only: bool = False, extra=()) -> dict:
    codes = (401, 404) if owner_only else (404,)
    return {"tags": [TAG_PHOTOS], "summary": summary, "parameters": [PHOTO_ID_PARAMETER, *extra],
            "responses": {(200, content_type): OpenApiResponse(OpenApiTypes.BINARY, description="The file."),
                          **errors(*codes)}}


class PhotoOriginalApi(_FileApi):
    permission_classes = [IsAuthenticated]  # and then the owner only: it may carry GPS coordinates

    @extend_schema(operation_id="photos_original", **_file_schema(
        "The exact uploaded bytes (owner only), as a download", "application/octet-stream", owner_only=True))
    def get(self, request, photo_id):
        image = selectors.image_get_owned(owner=request.user, image_id=photo_id)
        if image is None:
            raise Http404
        extension = image.file.name.rsplit(".", 1)[-1]
        return media.file_response(image.file, content_type=image.content_type, cache_control="private, no-store",
                                   download_name=f"{image.title or image.id}.{extension}")


class PhotoDisplayApi(_FileApi):
    @extend_schema(operation_id="photos_display", **_file_schema(
        "The display copy: re-encoded JPEG without metadata", "image/jpeg"))
    def get(self, request, photo_id):
        image = self._visible(request, photo_id)
        return self._file_response(image, image.display, "image/jpeg")


class PhotoThumbnailApi(_FileApi):
    @extend_schema(operation_id="photos_thumbnail", **_file_schema(
        "A saliency-cropped thumbnail (JPEG)", "image/jpeg",
        extra=[OpenApiParameter("name", str, OpenApiParameter.PATH, enum=["square", "wide"])]))
    def get(self, request, photo_id, name: str):
        image = self._visible(request, photo_id)
        if name not in ("square", "wide"):
            raise Http404
        return self._file_response(image, image.thumbnail_file(name), "image/jpeg")


class PhotoOverlayApi(_FileApi):
    @extend_schema(operation_id="photos_overlay", **_file_schema("The saliency heat map (PNG)", "image/png"))
    def get(self, request, photo_id):
        image = self._visible(request, photo_id)
        analysis = image_analysis_shown(image_id=image.id)
        if analysis is None or not analysis.has_heatmap:
            raise Http404
        return heatmap_response(analysis, cache_control=f"{'public' if image.is_public else 'private'}, max-age=86400")


class PhotoAnalysisRetryApi(APIView):
    """Retry a photo's analysis (the photo page's Retry button): a thin adapter over
    inference.services.image_analysis_retry, the one rule the page and the admin use too."""

    throttle_classes = [AnonThrottle, UserThrottle, ScopedThrottle]
    throttle_scope = "uploads"  # like an upload, a retry queues model work

    @extend_schema(
        tags=[TAG_PHOTOS], operation_id="photos_analysis_retry", summary="Analyse a photo again",
        description=(
            "For a photo whose analysis failed (or is stuck): queue it again, with its attempts counted "
            "from zero. Answers 202 with the photo (`analysis_status`: `pending`); poll it as after an "
            "upload. A photo whose analysis is done or running answers 409 `not_retryable`."
        ),
        parameters=[PHOTO_ID_PARAMETER],
        request=None,
        responses={202: OpenApiResponse(PhotoSerializer, description="Queued again."),
                   **errors(401, 404, 409, e409="Done or running: nothing to retry (`not_retryable`).")},
    )
    def post(self, request, photo_id):
        image = selectors.image_get_owned(owner=request.user, image_id=photo_id)
        if image is None:
            raise Http404  # someone else's photo, private or public: only its owner may retry it
        try:
            image_analysis_retry(image=image)
        except RetryRefused as exc:
            raise api_error_from_validation(exc) from None
        image.refresh_from_db()
        return Response(photo_data(request, [image])[0], status=status.HTTP_202_ACCEPTED)


class PublicPhotoListApi(GenericAPIView):
    permission_classes = [AllowAny]
    pagination_class = NewestFirstCursorPagination
    serializer_class = PhotoSerializer

    @extend_schema(tags=[TAG_PUBLIC], operation_id="public_photos_list", summary="Everyone's public photos",
                   responses={200: PhotoSerializer(many=True), **errors(400, e400="A malformed `cursor`.")})
    def get(self, request):
        page = self.paginate_queryset(selectors.image_queryset_public())
        return self.get_paginated_response(photo_data(request, page))
