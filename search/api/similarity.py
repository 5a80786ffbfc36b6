"""REST API v1 of the read side: similar photos, and searches with a new photo or a region.

A search is analysed by the worker like any upload, so it is asynchronous: POST answers 202 with
the search's id and URL; GET on that URL says its status and, once done, pages of results.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import Http404
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from gallery.api.photos import PhotoSummarySerializer
from gallery.models import AnalysisStatus
from gallery.platform.api.errors import ApiError, api_error_from_validation, errors
from gallery.platform.api.throttles import AnonThrottle, ScopedThrottle, UserThrottle
from gallery.platform.api.uploads import uploaded_bytes
from gallery.selectors import image_get_visible
from search import selectors, services
from search.models import SimilarityQuery

TAG_SEARCH = "similarity"


class PageParamsSerializer(serializers.Serializer):
    limit = serializers.IntegerField(min_value=1, max_value=100, default=24)
    offset = serializers.IntegerField(min_value=0, max_value=10_000, default=0)


class SimilarPhotoSerializer(serializers.Serializer):
    photo = PhotoSummarySerializer(source="image")
    similarity = serializers.FloatField(help_text="Cosine similarity of the ranking vectors (1 = same).")
    whole_similarity = serializers.FloatField(help_text="Whole photo against whole photo.")
    crop_similarity = serializers.FloatField(help_text="Salient crop against salient crop.")
    match = serializers.ChoiceField(choices=[("whole", "whole"), ("crop", "crop")],
                                    help_text="Which embedding matched best: the whole photo or its salient crop.")
    overlay_url = serializers.URLField(allow_null=True, help_text="The result's saliency heat map.")

    def to_representation(self, instance):
        data = super().to_representation(instance)
        # The API's overlay URL (a token opens it), not the page's.
        url = reverse("api:photo_overlay", args=[instance.image.id]) if instance.overlay_url else None
        request = self.context.get("request")
        data["overlay_url"] = request.build_absolute_uri(url) if url and request else url
        return data


class SimilarPageSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=AnalysisStatus.choices,
                                     help_text="The photo's analysis; results come once it is `done`.")
    results = SimilarPhotoSerializer(many=True)
    has_more = serializers.BooleanField()
    next = serializers.URLField(allow_null=True, help_text="The next page, if any.")


class SearchBoxSerializer(serializers.Serializer):
    left = serializers.IntegerField(min_value=0, max_value=1_000_000)
    top = serializers.IntegerField(min_value=0, max_value=1_000_000)
    right = serializers.IntegerField(min_value=0, max_value=1_000_000, help_text="Exclusive.")
    bottom = serializers.IntegerField(min_value=0, max_value=1_000_000, help_text="Exclusive.")


class SearchWithPhotoSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="A photo to search with; it is not added to your gallery.")


class SearchWithRegionSerializer(serializers.Serializer):
    photo = serializers.UUIDField(help_text="A photo you may see.")
    box = SearchBoxSerializer(help_text="The region, in pixels of the upright photo; at least 16 a side.")


class SearchSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    url = serializers.URLField()
    status = serializers.ChoiceField(choices=AnalysisStatus.choices)
    error = serializers.CharField(help_text="Why the search failed; empty otherwise.")
    photo = serializers.UUIDField(allow_null=True, help_text="For a region search: the photo it was drawn on.")
    box = SearchBoxSerializer(allow_null=True)
    model_version = serializers.CharField(help_text="Empty until analysed.")
    created = serializers.DateTimeField()
    results = SimilarPhotoSerializer(many=True, help_text="Empty until `status` is `done`.")
    has_more = serializers.BooleanField()
    next = serializers.URLField(allow_null=True)


def _next_url(request, page) -> str | None:
    if page is None or not page.has_more:
        return None
    query = request.query_params.copy()
    query["offset"] = page.next_offset
    return request.build_absolute_uri(f"{request.path}?{query.urlencode()}")


def _page_params(request) -> dict:
    params = PageParamsSerializer(data=request.query_params)
    params.is_valid(raise_exception=True)
    return params.validated_data


def _results(request, page) -> list:
    return SimilarPhotoSerializer(page.results if page else [], many=True, context={"request": request}).data


_PAGE = [PageParamsSerializer]


class PhotoSimilarApi(APIView):
    permission_classes = [AllowAny]  # public photos are searchable by anyone; visibility rules apply

    @extend_schema(
        tags=[TAG_SEARCH], operation_id="photos_similar", summary="Photos most like this one",
        description="Ranked among your own and everyone's public photos. Until the photo is analysed, "
                    "`status` says how far it is and `results` is empty.",
        parameters=[OpenApiParameter("photo_id", OpenApiTypes.UUID, OpenApiParameter.PATH), *_PAGE],
        responses={200: SimilarPageSerializer, **errors(400, 404)},
    )
    def get(self, request, photo_id):
        params = _page_params(request)
        image = image_get_visible(viewer=request.user, image_id=photo_id)
        if image is None:
            raise Http404
        page = selectors.image_similar_page(viewer=request.user, image=image, **params)
        data = {
            # The photo has vectors of the serving version even while a newer analysis runs.
            "status": AnalysisStatus.DONE if page is not None else image.analysis_status,
            "results": _results(request, page),
            "has_more": bool(page and page.has_more),
            "next": _next_url(request, page),
        }
        return Response(data)


def _search_data(request, query: SimilarityQuery, page) -> dict:
    return {
        "id": query.id,
        "url": request.build_absolute_uri(reverse("api:search", args=[query.id])),
        "status": query.status,
        "error": query.error,
        "photo": query.source_image_id,
        "box": dict(zip(("left", "top", "right", "bottom"), query.box, strict=True)) if query.box else None,
        "model_version": query.model_version,
        "created": query.created,
        "results": _results(request, page),
        "has_more": bool(page and page.has_more),
        "next": _next_url(request, page),
    }


class SearchCreateApi(APIView):
    parser_classes = [MultiPartParser, JSONParser]
    throttle_classes = [AnonThrottle, UserThrottle, ScopedThrottle]
    throttle_scope = "searches"  # each search is model work on the interactive queue

    @extend_schema(
        tags=[TAG_SEARCH], operation_id="searches_create", summary="Search with a new photo or a region",
        description=(
            "Multipart with `file`: search with a photo that is not in the gallery (checked like an upload). "
            "JSON with `photo` and `box`: search with a region of a photo you may see. Answers 202; poll "
            "the search's `url` until `status` is `done` or `failed`. Searches expire after "
            f"{settings.QUERY_KEEP_HOURS} hours."
        ),
        request={"multipart/form-data": SearchWithPhotoSerializer, "application/json": SearchWithRegionSerializer},
        parameters=[OpenApiParameter("Location", OpenApiTypes.URI, OpenApiParameter.HEADER, response=[202],
                                     description="The search's URL, to poll.")],
        responses={202: OpenApiResponse(SearchSerializer, description="Queued."), **errors(400, 401, 413, 415)},
    )
    def post(self, request):
        if request.content_type.startswith("multipart/"):
            data = SearchWithPhotoSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            upload = data.validated_data["file"]
            try:
                query = services.similarity_query_from_photo(owner=request.user, data=uploaded_bytes(upload),
                                                             filename=upload.name or "")
            except ValidationError as exc:
                raise api_error_from_validation(exc, field="file") from None
        else:
            data = SearchWithRegionSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            image = image_get_visible(viewer=request.user, image_id=data.validated_data["photo"])
            if image is None:
                # Someone else's private photo is reported exactly like one that does not exist.
                raise ApiError(status_code=400, code="unknown_photo", message="No such photo.",
                               fields={"photo": ["No such photo."]})
            box = data.validated_data["box"]
            try:
                query = services.similarity_query_from_region(
                    owner=request.user, image=image, box=(box["left"], box["top"], box["right"], box["bottom"]))
            except ValidationError as exc:
                raise api_error_from_validation(exc, field="box") from None
        response = Response(_search_data(request, query, None), status=status.HTTP_202_ACCEPTED)
        response["Location"] = response.data["url"]
        return response


class SearchDetailApi(APIView):
    @extend_schema(
        tags=[TAG_SEARCH], operation_id="searches_retrieve", summary="A search's status and results",
        parameters=[OpenApiParameter("search_id", OpenApiTypes.UUID, OpenApiParameter.PATH), *_PAGE],
        responses={200: SearchSerializer, **errors(400, 401, 404)},
    )
    def get(self, request, search_id):
        params = _page_params(request)
        query = selectors.similarity_query_get(viewer=request.user, query_id=search_id)
        if query is None:
            raise Http404
        page = selectors.query_similar_page(viewer=request.user, query=query, **params)
        return Response(_search_data(request, query, page))
