"""The OpenAPI schema generator (drf-spectacular) with what every operation shares declared once."""

from __future__ import annotations

from drf_spectacular import openapi
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework.permissions import AllowAny

from gallery.api_common import ErrorSerializer

_RETRY_AFTER = OpenApiParameter("Retry-After", int, OpenApiParameter.HEADER, response=[429], required=True,
                                description="Seconds to wait before the next request.")


class AutoSchema(openapi.AutoSchema):
    def get_override_parameters(self):
        parameters = super().get_override_parameters()
        return [*parameters, _RETRY_AFTER] if self.view.get_throttles() else parameters

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        if self.view.get_throttles() and "429" not in responses:
            responses["429"] = self._get_response_for_code(
                OpenApiResponse(ErrorSerializer, description="Too many requests; see `Retry-After`."), "429")
        needs_login = not any(isinstance(p, AllowAny) for p in self.view.get_permissions())
        if needs_login and "401" not in responses:
            responses["401"] = self._get_response_for_code(
                OpenApiResponse(ErrorSerializer, description="No or invalid credentials."), "401")
        return responses
