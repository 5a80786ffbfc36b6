"""Resumable uploads for bad networks: the tus 1.0 protocol (https://tus.io), served by drf-tus.

A client creates an upload with its length, sends the bytes in PATCH chunks, and after a dropped
connection asks (HEAD) how many bytes arrived and continues from there. When the last byte
arrives, gallery.services.resumable_upload_finish turns the file into a photo through
image_create, so it is checked, de-duplicated and analysed like any other upload. Any tus client
works (tus-js-client, TUSKit, tus-android-client, tuspy).

What this module adds to drf-tus: uploads belong to their owner (others get 404), the length is
required and capped at UPLOAD_MAX_BYTES up front, chunks may not run past it, the finished photo
(or why it was refused: 413/415/400) is in the last PATCH's answer, and every error has the API's
one error shape.
"""

from __future__ import annotations

import binascii

from django.conf import settings
from django.db import transaction
from django.http import JsonResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.viewsets import GenericViewSet
from rest_framework_tus import constants, states
from rest_framework_tus.middleware import TusMiddleware
from rest_framework_tus.parsers import TusUploadStreamParser
from rest_framework_tus.storage import AbstractUploadSaveHandler
from rest_framework_tus.views import (
    TusCreateMixin,
    TusHeadMixin,
    TusPatchMixin,
    TusTerminateMixin,
    UploadMetadata,
)

from gallery import services
from gallery.models import ResumableUpload, Visibility
from gallery.platform.api.errors import REJECTION_STATUS, STATUS_CODES, ApiError, ErrorSerializer, errors
from gallery.platform.api.throttles import AnonThrottle, ScopedThrottle, UserThrottle

UPLOADS_PATH_PREFIX = "/api/v1/uploads/"
TAG_UPLOADS = "resumable uploads (tus)"


class PhotoSaveHandler(AbstractUploadSaveHandler):
    """drf-tus calls this once the last byte is in (REST_FRAMEWORK_TUS["SAVE_HANDLER_CLASS"])."""

    def handle_save(self):
        services.resumable_upload_finish(upload=self.upload)
        self.finish()


class TusHeadersMiddleware(TusMiddleware):
    """drf-tus's header parsing, only on the upload endpoints, where a malformed header is a 400
    in the API's error shape rather than an exception."""

    def __call__(self, request):
        if not request.path.startswith(UPLOADS_PATH_PREFIX):
            return self.get_response(request)
        try:
            self.process_request(request)
        except (ValueError, TypeError, binascii.Error, UnicodeError) as exc:
            return JsonResponse({"error": {"code": "invalid_header", "message": f"Malformed tus header: {exc}",
                                           "fields": {}}}, status=400, headers={"Tus-Resumable": "1.0.0"})
        return self.process_response(request, self.get_response(request))


class UploadMetadataSerializer(serializers.Serializer):
    filename = serializers.CharField(max_length=255, required=False, allow_blank=True,
                                     help_text="Its extension must match the image format.")
    title = serializers.CharField(max_length=200, required=False, allow_blank=True)
    visibility = serializers.ChoiceField(choices=Visibility.choices, required=False)


class _UploadCreateSerializer(serializers.ModelSerializer):
    class Meta:
        model = ResumableUpload
        fields = ["guid", "upload_length", "upload_metadata", "filename"]
        read_only_fields = ["guid"]


class ResumableUploadSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="guid")
    offset = serializers.IntegerField(source="upload_offset", help_text="Bytes received so far.")
    length = serializers.IntegerField(source="upload_length")
    state = serializers.ChoiceField(choices=[(s, s) for s in ("initial", "receiving", "saving", "done")])
    photo = serializers.UUIDField(source="image_id", allow_null=True,
                                  help_text="The photo the finished upload made (or already was: `photo_existed`).")
    error = serializers.SerializerMethodField()

    class Meta:
        model = ResumableUpload
        fields = ["id", "offset", "length", "state", "created", "expires", "photo", "image_existed", "error"]
        read_only_fields = fields
        extra_kwargs = {"image_existed": {"help_text": "The same bytes were already your photo."}}

    def get_error(self, upload: ResumableUpload) -> dict | None:
        if not upload.error_code:
            return None
        return {"code": upload.error_code, "message": upload.error_message}


def _tus_header(name: str, kind, description: str, *, required: bool = False, **extra) -> OpenApiParameter:
    return OpenApiParameter(name, kind, OpenApiParameter.HEADER, required=required, description=description, **extra)


_TUS_RESUMABLE = _tus_header("Tus-Resumable", OpenApiTypes.STR, "The protocol version.", required=True,
                             enum=["1.0.0"])
_GUID = OpenApiParameter("guid", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The upload's id.")
_TUS_ERRORS = {
    460: OpenApiResponse(ErrorSerializer, description="`Upload-Checksum` does not match the chunk."),
}


@extend_schema_view(
    create=extend_schema(
        tags=[TAG_UPLOADS], operation_id="uploads_create", summary="Start a resumable upload (tus creation)",
        description="Answers 201 with the upload's URL in `Location`. Then PATCH the bytes to it.",
        request=None,
        parameters=[
            _TUS_RESUMABLE,
            _tus_header("Upload-Length", OpenApiTypes.INT, "The file's size in bytes.", required=True),
            _tus_header("Upload-Metadata", OpenApiTypes.STR,
                        "tus metadata: comma-separated `key base64(value)` pairs; keys `filename`, "
                        "`title`, `visibility` (`private` or `public`)."),
            OpenApiParameter("Location", OpenApiTypes.URI, OpenApiParameter.HEADER, response=[201],
                             description="The upload's URL."),
        ],
        responses={201: OpenApiResponse(description="Created; see `Location`."), **errors(400, 401, 413)},
    ),
    retrieve=extend_schema(
        tags=[TAG_UPLOADS], operation_id="uploads_retrieve", summary="An upload's progress and outcome",
        description="Not part of tus (clients use HEAD for the offset): tells what the finished upload became.",
        parameters=[_GUID], responses={200: ResumableUploadSerializer, **errors(401, 404)},
    ),
    partial_update=extend_schema(
        tags=[TAG_UPLOADS], operation_id="uploads_append", summary="Append a chunk (tus PATCH)",
        description=(
            "`Upload-Offset` must equal the bytes received so far (HEAD tells it after a dropped "
            "connection), else 409. The chunk that completes the file makes the photo: its answer "
            "carries `Photo-Location`, or the reason the file was refused (413, 415, 400)."
        ),
        request={"application/offset+octet-stream": OpenApiTypes.BINARY},
        parameters=[
            _GUID, _TUS_RESUMABLE,
            _tus_header("Upload-Offset", OpenApiTypes.INT, "Where this chunk starts.", required=True),
            _tus_header("Upload-Checksum", OpenApiTypes.STR, "`sha256 base64(digest)` of the chunk (optional)."),
            OpenApiParameter("Upload-Offset", OpenApiTypes.INT, OpenApiParameter.HEADER, response=[204],
                             description="Bytes received so far."),
            OpenApiParameter("Photo-Location", OpenApiTypes.URI, OpenApiParameter.HEADER, response=[204],
                             description="Only when this chunk completed the file: the photo's API URL."),
        ],
        responses={204: OpenApiResponse(description="Chunk stored."),
                   **errors(400, 401, 404, 409, 413, 415, e409="`Upload-Offset` is not the bytes received so far."),
                   **_TUS_ERRORS},
    ),
    destroy=extend_schema(
        tags=[TAG_UPLOADS], operation_id="uploads_destroy", summary="Abandon an upload (tus termination)",
        parameters=[_GUID, _TUS_RESUMABLE], responses={204: None, **errors(401, 404, 409)},
    ),
)
class PhotoUploadViewSet(TusCreateMixin, TusPatchMixin, TusHeadMixin, TusTerminateMixin, GenericViewSet):
    lookup_field = "guid"
    throttle_classes = [AnonThrottle, UserThrottle, ScopedThrottle]
    metadata_class = UploadMetadata
    parser_classes = [TusUploadStreamParser]

    @property
    def max_file_size(self) -> int:
        return settings.UPLOAD_MAX_BYTES

    def get_throttles(self):
        self.throttle_scope = "uploads" if self.action == "create" else None
        return super().get_throttles()

    def get_queryset(self):
        uploads = ResumableUpload.objects.filter(owner=self.request.user)
        return uploads.select_for_update() if self.action == "partial_update" else uploads

    def get_serializer_class(self):
        return _UploadCreateSerializer if self.action == "create" else ResumableUploadSerializer

    def create(self, request, *args, **kwargs):
        services.resumable_uploads_prune()
        length = getattr(request, constants.UPLOAD_LENGTH_FIELD_NAME, None)
        if length is None or length < 0:
            # No deferred lengths: the cap must be checked before any byte is stored.
            raise ApiError(status_code=400, code="upload_length_required",
                           message="Send the file's size in the Upload-Length header.")
        if length == 0:
            raise ApiError(status_code=400, code="empty", message="The file is empty (0 bytes).")
        if length > settings.UPLOAD_MAX_BYTES:
            raise ApiError(status_code=413, code="too_large",
                           message=f"The file is {length / 1e6:.1f} MB; the limit is "
                                   f"{settings.UPLOAD_MAX_BYTES / 1e6:.0f} MB.")
        metadata = UploadMetadataSerializer(data=getattr(request, constants.UPLOAD_METADATA_FIELD_NAME, {}))
        metadata.is_valid(raise_exception=True)
        return super().create(request, *args, **kwargs)

    def perform_create(self, serializer):
        serializer.save(owner=self.request.user)

    def get_success_headers(self, data):
        return {"Location": self.request.build_absolute_uri(reverse("api:upload", args=[data["guid"]]))}

    def validate_chunk(self, offset, chunk_bytes):
        upload = self.get_object()
        if offset + len(chunk_bytes) > upload.upload_length:
            raise ApiError(status_code=413, code="too_large",
                           message=f"The chunk runs past the declared Upload-Length ({upload.upload_length}).")
        return chunk_bytes

    def retrieve(self, request, *args, **kwargs):
        return Response(ResumableUploadSerializer(self.get_object()).data)

    def partial_update(self, request, *args, **kwargs):
        if request.META.get("CONTENT_TYPE") != TusUploadStreamParser.media_type:
            # As tus says; drf-tus itself would fail on a request without a Content-Type.
            raise ApiError(status_code=415, code="unsupported_media_type",
                           message=f"Send chunks as {TusUploadStreamParser.media_type}.")
        if getattr(request, constants.UPLOAD_OFFSET_NAME, None) is None:
            raise ApiError(status_code=400, code="upload_offset_required",
                           message="Send where this chunk starts in the Upload-Offset header.")
        # One chunk at a time per upload: the row stays locked (get_queryset) from the offset check
        # to the write, so two connections sending the same chunk cannot both append it.
        with transaction.atomic():
            response = super().partial_update(request, *args, **kwargs)
            upload = self.get_object() if response.status_code == status.HTTP_204_NO_CONTENT else None
        # Outside the transaction: a refused file is recorded on the upload, not rolled back.
        if upload is None or upload.state != states.DONE:
            return response
        if upload.error_code:
            raise ApiError(status_code=REJECTION_STATUS.get(upload.error_code, 400), code=upload.error_code,
                           message=upload.error_message, fields={"file": [upload.error_message]})
        if upload.image_id:
            response["Photo-Location"] = request.build_absolute_uri(reverse("api:photo", args=[upload.image_id]))
        return response

    def finalize_response(self, request, response, *args, **kwargs):
        # drf-tus answers some errors with a bare string: give them the API's error shape.
        if response.status_code >= 400 and isinstance(response.data, str):
            code = STATUS_CODES.get(response.status_code, "error")
            if response.status_code == 460:
                code = "checksum_mismatch"
            response.data = {"error": {"code": code, "message": response.data, "fields": {}}}
        return super().finalize_response(request, response, *args, **kwargs)

