"""Reading an uploaded file in an API view."""

from __future__ import annotations

from django.conf import settings

from gallery.platform.api.errors import ApiError


def uploaded_bytes(upload) -> bytes:
    """The bytes of an uploaded file, refusing one over UPLOAD_MAX_BYTES before reading it into
    memory (Django has spooled it to disk); image_create checks the size again, as for every path."""
    if upload.size > settings.UPLOAD_MAX_BYTES:
        message = (f"The file is {upload.size / 1e6:.1f} MB; the limit is {settings.UPLOAD_MAX_BYTES / 1e6:.0f} MB.")
        raise ApiError(status_code=413, code="too_large", message=message, fields={"file": [message]})
    return upload.read()
