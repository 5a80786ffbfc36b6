"""The API's one error shape: every error, whatever raised it (a serializer, a service,
authentication, throttling, a 404), is answered as ``{"error": {"code": ..., "message": ...,
"fields": {...}}}`` so a client has one parser for all of them.

exception_handler is settings.REST_FRAMEWORK["EXCEPTION_HANDLER"]; ApiErrorShapeMiddleware gives
the same shape to error answers DRF never sees (gallery.platform.error_views are the handlers).
Views raise ApiError, and document their errors with ``errors(...)``.
"""

from __future__ import annotations

import json

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from drf_spectacular.utils import OpenApiResponse
from rest_framework import exceptions, serializers, status
from rest_framework.renderers import JSONRenderer
from rest_framework.views import exception_handler as drf_exception_handler

# Why a service refused (the ValidationError's code, e.g. gallery.services.ImageRejected.code) ->
# the HTTP status that says so; any other code is a 400.
REJECTION_STATUS = {
    "duplicate": status.HTTP_409_CONFLICT,
    "not_retryable": status.HTTP_409_CONFLICT,
    "too_large": status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    "too_many_pixels": status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    "not_an_image": status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
    "unsupported_format": status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
    "wrong_extension": status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
}

# DRF's own codes for its exceptions, renamed where a client would read them better.
STATUS_CODES = {
    400: "invalid",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    429: "throttled",
    500: "server_error",
    502: "unavailable",
    503: "unavailable",
}

# What an error says when whoever produced it said nothing a client could use.
STATUS_MESSAGES = {
    400: "The request is not valid.",
    401: "Authentication credentials were not provided.",
    403: "You do not have permission to do this.",
    404: "Not found.",
    405: "This method is not allowed here.",
    413: "The request body is too large.",
    415: "Unsupported media type.",
    429: "Too many requests.",
    500: "Something went wrong on our side; it has been logged. Please try again later.",
    503: "The service is unavailable for a moment; please try again.",
}

API_PATH_PREFIX = "/api/"


class ApiError(exceptions.APIException):
    """An error with an explicit status, code and (optionally) per-field messages."""

    def __init__(self, *, status_code: int, code: str, message: str, fields: dict | None = None,
                 retry_after_s: float | None = None):
        super().__init__(detail=message, code=code)
        self.status_code = status_code
        self.error_code = code
        self.fields = fields or {}
        self.wait = retry_after_s  # DRF's handler turns it into the Retry-After header


def api_error_from_validation(exc: DjangoValidationError, *, field: str | None = None) -> ApiError:
    """A service's ValidationError (ImageRejected, AlbumRejected, QueryRejected ...) as an API error."""
    code = getattr(exc, "code", None) or "invalid"
    message = " ".join(exc.messages)
    fields = {field: exc.messages} if field else {}
    return ApiError(status_code=REJECTION_STATUS.get(code, status.HTTP_400_BAD_REQUEST), code=code,
                    message=message, fields=fields)


def exception_handler(exc, context):
    if isinstance(exc, DjangoValidationError):
        exc = api_error_from_validation(exc)
    elif isinstance(exc, RequestDataTooBig):
        exc = ApiError(status_code=413, code="too_large", message="The request body is too large.")
    elif isinstance(exc, Http404):
        # Also what a caller gets for a photo they may not see: its existence is private too.
        exc = exceptions.NotFound("Not found.")
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    # DRF adds the headers that go with an error (WWW-Authenticate, Retry-After); we own the body.
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # not an API error: a server error, left to Django (logged; ApiErrorShapeMiddleware)
    response.data = {"error": _error_body(exc, response.status_code)}
    # Errors are JSON whatever the view renders when all goes well (the schema's YAML, the docs' HTML).
    request = context.get("request")
    if request is not None:
        request.accepted_renderer, request.accepted_media_type = JSONRenderer(), "application/json"
    return response


def _error_body(exc: exceptions.APIException, status_code: int) -> dict:
    if isinstance(exc, ApiError):
        return {"code": exc.error_code, "message": str(exc.detail), "fields": exc.fields}
    if isinstance(exc, exceptions.ValidationError):
        fields = _flatten(exc.detail)
        general = fields.pop("non_field_errors", []) + fields.pop("", [])
        message = " ".join(general) or "The request has invalid fields: " + ", ".join(sorted(fields)) + "."
        return {"code": "invalid", "message": message, "fields": fields}
    if isinstance(exc, exceptions.Throttled):
        message = f"Too many requests; try again in {exc.wait:.0f} seconds." if exc.wait else "Too many requests."
        return {"code": "throttled", "message": message, "fields": {}}
    code = STATUS_CODES.get(status_code) or (exc.get_codes() if isinstance(exc.get_codes(), str) else "error")
    if isinstance(exc, exceptions.AuthenticationFailed):
        code = "authentication_failed"
    return {"code": code, "message": str(exc.detail), "fields": {}}


def _flatten(detail, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error detail as {"field" or "field.sub" or "items.0": [messages]}."""
    if isinstance(detail, dict):
        flat: dict[str, list[str]] = {}
        for key, value in detail.items():
            flat.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    if isinstance(detail, list) and any(isinstance(item, (dict, list)) for item in detail):
        flat = {}
        for index, value in enumerate(detail):
            flat.update(_flatten(value, f"{prefix}.{index}" if prefix else str(index)))
        return flat
    items = detail if isinstance(detail, list) else [detail]
    return {prefix: [str(item) for item in items]} if items else {}


# --- the error shape, for the schema ------------------------------------------------------------

class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable, machine-readable reason, e.g. `not_found`, `too_large`.")
    message = serializers.CharField(help_text="A sentence for the person using the app.")
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Messages per request field (`field`, `field.sub`, `list.0`); empty when no field is at fault.",
    )


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()


def errors(*codes: int, **descriptions: str) -> dict:
    """Schema entries for error statuses, all with the one error shape."""
    default = {
        400: "Invalid input; `error.fields` says which fields.",
        401: "No or invalid credentials.",
        403: "Signed in, but this is not yours to change.",
        404: "No such object, or one the caller may not see (never 403: existence is private too).",
        409: "Conflicts with an existing object.",
        413: "The file or image is too large (`too_large`: bytes; `too_many_pixels`: megapixels).",
        415: "Not an image we accept (`not_an_image`, `unsupported_format`, `wrong_extension`).",
    }
    return {code: OpenApiResponse(ErrorSerializer, description=descriptions.get(f"e{code}", default[code]))
            for code in codes}


# --- the error shape for answers DRF never sees -------------------------------------------------

def is_api_path(path: str) -> bool:
    return path == API_PATH_PREFIX.rstrip("/") or path.startswith(API_PATH_PREFIX)


def api_error_response(status_code: int, *, code: str = "", message: str = "") -> JsonResponse:
    body = {"code": code or STATUS_CODES.get(status_code, "error"),
            "message": message or STATUS_MESSAGES.get(status_code, "The request failed."), "fields": {}}
    return JsonResponse({"error": body}, status=status_code)


class ApiErrorShapeMiddleware:
    """Under /api/, every error has the one JSON shape, whoever answered it.

    DRF views answer through exception_handler above. This catches the rest: an unknown URL, an
    uncaught exception (the 500 from Django's handler), a refused Host header, a CSRF failure
    outside DRF, a lockout. Headers are kept (Retry-After, WWW-Authenticate, Allow); only a body
    that is not already the error shape is replaced. First in MIDDLEWARE, so it sees them all.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code < 400 or not is_api_path(request.path_info) or _has_error_shape(response):
            return response
        shaped = api_error_response(response.status_code)
        for header, value in response.items():
            if header.lower() not in ("content-type", "content-length", "content-encoding"):
                shaped[header] = value
        shaped.cookies = response.cookies
        return shaped


def _has_error_shape(response: HttpResponse) -> bool:
    if getattr(response, "streaming", False) or not response.get("Content-Type", "").startswith("application/json"):
        return False
    try:
        error = json.loads(response.content).get("error")
    except (ValueError, AttributeError):
        return False
    return isinstance(error, dict) and {"code", "message", "fields"} <= error.keys()
