"""The OpenAPI schema generator (drf-spectacular), with the errors every operation can answer
declared once, from the view's own authentication, permissions, throttles and parsers."""

from __future__ import annotations

from drf_spectacular import openapi
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import SAFE_METHODS, AllowAny

from gallery.platform.api.errors import ErrorSerializer

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
        authenticators = self.view.get_authenticators()
        needs_login = not any(isinstance(p, AllowAny) for p in self.view.get_permissions())
        writes = self.method not in SAFE_METHODS
        generic = {
            # A wrong or revoked token is refused even where no sign-in is needed.
            "401": authenticators and ("No or invalid credentials." if needs_login else "Invalid credentials."),
            "403": writes and any(isinstance(a, SessionAuthentication) for a in authenticators)
            and "With a session (browser): the CSRF check failed.",
            "400": writes and "Malformed request body.",
            "415": writes and self.method != "DELETE" and "Unsupported Content-Type.",
            "429": self.view.get_throttles() and "Too many requests; see `Retry-After`.",
        }
        for code, description in generic.items():
            if description and code not in responses:
                responses[code] = self._get_response_for_code(OpenApiResponse(ErrorSerializer, description=description),
                                                              code)
        return responses
