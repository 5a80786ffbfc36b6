"""Sending a stored file to a browser, after a view has decided the viewer may have it.

There is no public media URL: every photo, thumbnail and overlay is reached through a view that
checks visibility first. SERVE_MEDIA_WITH only chooses who then moves the bytes (settings/base.py):
Django itself, nginx (X-Accel-Redirect to an ``internal`` location, so the file path is never a URL
a client can request), or the storage's own URL (S3 signed URLs that expire). Heat maps are the
exception: Django draws them from the stored saliency map (gallery.heatmaps).
"""

from __future__ import annotations

import inspect
from urllib.parse import quote

from django.conf import settings
from django.db.models.fields.files import FieldFile
from django.http import FileResponse, HttpResponse, HttpResponseRedirect
from django.utils.http import content_disposition_header


def file_response(
    field: FieldFile,
    *,
    content_type: str,
    cache_control: str,
    download_name: str | None = None,
) -> HttpResponse:
    """The response that delivers ``field`` to the viewer; ``download_name`` makes it an attachment."""
    mode = settings.SERVE_MEDIA_WITH
    if mode == "x-accel":
        response = HttpResponse(content_type=content_type)
        response["X-Accel-Redirect"] = quote(settings.MEDIA_X_ACCEL_PREFIX.rstrip("/") + "/" + field.name)
    elif mode == "redirect":
        # The signed URL is valid for a while for whoever holds it, so this answer must not be
        # cached anywhere it could be handed to someone else.
        response = HttpResponseRedirect(_storage_url(field, content_type=content_type, download_name=download_name))
        response["Cache-Control"] = "private, no-store"
        return response
    elif mode == "django":
        response = FileResponse(field.open("rb"), content_type=content_type)
    else:
        raise ValueError(f"SERVE_MEDIA_WITH must be django, x-accel or redirect, not {mode!r}")
    if download_name is not None:
        response["Content-Disposition"] = content_disposition_header(True, download_name)
    response["Cache-Control"] = cache_control
    return response


def _storage_url(field: FieldFile, *, content_type: str, download_name: str | None) -> str:
    storage = field.storage
    # django-storages' S3 signs these into the URL, so S3 itself answers with our headers.
    if "parameters" in inspect.signature(storage.url).parameters:
        parameters = {"ResponseContentType": content_type}
        if download_name is not None:
            parameters["ResponseContentDisposition"] = content_disposition_header(True, download_name)
        return storage.url(field.name, parameters=parameters)
    return storage.url(field.name)
