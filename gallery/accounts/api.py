"""The API token endpoint, with the login lockout answered as 429 like the login page."""

from __future__ import annotations

import math

from rest_framework import status
from rest_framework.authtoken.models import Token
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.response import Response

from gallery.accounts.views import lockout_retry_after


class TokenObtainApi(ObtainAuthToken):
    """DRF's obtain_auth_token. Its serializer calls authenticate(request=...), so axes counts
    failures and refuses locked-out clients; but axes flags the lockout on DRF's Request wrapper,
    which AxesMiddleware never sees, so without this the client would get a plain 400."""

    def post(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        valid = serializer.is_valid()
        if getattr(request, "axes_locked_out", False):
            retry_after = lockout_retry_after(request)
            minutes = math.ceil(retry_after.total_seconds() / 60)
            return Response(
                {"detail": f"Too many failed logins. Try again in {minutes} minutes.", "code": "locked_out"},
                status=status.HTTP_429_TOO_MANY_REQUESTS,
                headers={"Retry-After": str(math.ceil(retry_after.total_seconds()))},
            )
        if not valid:
            return Response(serializer.errors, status=status.HTTP_400_BAD_REQUEST)
        token, _created = Token.objects.get_or_create(user=serializer.validated_data["user"])
        return Response({"token": token.key})
