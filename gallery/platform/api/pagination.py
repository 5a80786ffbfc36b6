"""Cursor paging for lists that grow while a client pages through them."""

from __future__ import annotations

from django.conf import settings
from rest_framework import exceptions
from rest_framework.pagination import CursorPagination

from gallery.platform.api.errors import ApiError


class NewestFirstCursorPagination(CursorPagination):
    """Stable pages while photos are being added: a cursor, not an offset."""

    ordering = ("-created", "-id")
    page_size_query_param = "page_size"

    def get_page_size(self, request) -> int:
        self.max_page_size = settings.API_MAX_PAGE_SIZE
        self.page_size = settings.API_PAGE_SIZE  # the default, when the client does not ask
        return super().get_page_size(request)

    def decode_cursor(self, request):
        try:
            return super().decode_cursor(request)
        except exceptions.NotFound:  # DRF's answer; but the list exists, the parameter is wrong
            message = "This cursor was not given out by the API; follow `next` and `previous`."
            raise ApiError(status_code=400, code="invalid_cursor", message=message,
                           fields={self.cursor_query_param: [message]}) from None
