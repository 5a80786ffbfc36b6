"""The site's own answers to errors (Django's handler400/403/404/500 and CSRF_FAILURE_VIEW).

Pages get the site's look and a sentence a person can act on; nothing about the code, the URL
patterns or the settings. Under /api/ the same errors answer the API's JSON error shape
(gallery.platform.api.errors; ApiErrorShapeMiddleware covers answers that never reach these views).
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.views import defaults

from gallery.platform.api.errors import api_error_response, is_api_path


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if is_api_path(request.path_info):
        return api_error_response(400, code="bad_request")
    # Rendered without the request (as Django's own handler does): a refused Host header must not
    # run the context processors, which would build URLs from that very header.
    return defaults.bad_request(request, exception, template_name="400.html")


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    if is_api_path(request.path_info):
        return api_error_response(403)
    return TemplateResponse(request, "403.html", status=403).render()


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    # Also the answer for a photo someone may not see: its existence is private too.
    if is_api_path(request.path_info):
        return api_error_response(404)
    return TemplateResponse(request, "404.html", status=404).render()


def server_error(request: HttpRequest) -> HttpResponse:
    if is_api_path(request.path_info):
        return api_error_response(500)
    # No request context: whatever failed (the database, a template tag) must not fail this page too.
    return defaults.server_error(request, template_name="500.html")


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    if is_api_path(request.path_info):
        return api_error_response(403, code="csrf_failed",
                                  message="CSRF check failed: send the X-CSRFToken header with a session.")
    return TemplateResponse(request, "403_csrf.html", status=403).render()
