"""REST API v1 of the analysis: retry a photo's analysis (the photo page's Retry button).

A thin adapter over inference.services.image_analysis_retry, the one rule the page and the admin
use too. Included under /api/v1/ by gallery.api_urls.
"""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from gallery.api import TAG_PHOTOS, PhotoSerializer, photo_data
from gallery.api_common import AnonThrottle, ScopedThrottle, UserThrottle, api_error_from_validation, errors
from gallery.selectors import image_get_owned
from inference.services import RetryRefused, image_analysis_retry


class PhotoAnalysisRetryApi(APIView):
    throttle_classes = [AnonThrottle, UserThrottle, ScopedThrottle]
    throttle_scope = "uploads"  # like an upload, a retry queues model work
    @extend_schema(
        tags=[TAG_PHOTOS], operation_id="photos_analysis_retry", summary="Analyse a photo again",
        description=(
            "For a photo whose analysis failed (or is stuck): queue it again, with its attempts counted "
            "from zero. Answers 202 with the photo (`analysis_status`: `pending`); poll it as after an "
            "upload. A photo whose analysis is done or running answers 409 `not_retryable`."
        ),
        parameters=[OpenApiParameter("photo_id", OpenApiTypes.UUID, OpenApiParameter.PATH)],
        request=None,
        responses={202: OpenApiResponse(PhotoSerializer, description="Queued again."),
                   **errors(401, 404, 409, e409="Done or running: nothing to retry (`not_retryable`).")},
    )
    def post(self, request, photo_id):
        image = image_get_owned(owner=request.user, image_id=photo_id)
        if image is None:
            raise Http404  # someone else's photo, private or public: only its owner may retry it
        try:
            image_analysis_retry(image=image)
        except RetryRefused as exc:
            raise api_error_from_validation(exc) from None
        image.refresh_from_db()
        return Response(photo_data(request, [image])[0], status=status.HTTP_202_ACCEPTED)
