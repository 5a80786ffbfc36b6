"""API tokens for apps: one per device (django-rest-knox stores only a hash), listed and revoked
by their owner. The browser uses its session instead."""

from __future__ import annotations

import math

from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from knox.models import AuthToken
from knox.settings import knox_settings
from rest_framework import serializers, status
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from gallery.accounts.views import lockout_retry_after
from gallery.platform.api.errors import ApiError, ErrorSerializer, errors
from gallery.platform.api.throttles import AnonThrottle, ScopedThrottle

TAG_AUTH = "auth"


class CredentialsSerializer(serializers.Serializer):
    username = serializers.CharField()
    password = serializers.CharField(style={"input_type": "password"}, trim_whitespace=False)


class TokenSerializer(serializers.Serializer):
    id = serializers.CharField(source="token_key",
                               help_text="The token's first characters: its name for listing and revoking.")
    created = serializers.DateTimeField()
    expiry = serializers.DateTimeField(allow_null=True, help_text="Moves forward while the token is in use.")
    current = serializers.SerializerMethodField(help_text="Whether this request used this token.")

    def get_current(self, token: AuthToken) -> bool:
        used = getattr(self.context.get("request"), "auth", None)
        return isinstance(used, AuthToken) and used.digest == token.digest


class NewTokenSerializer(TokenSerializer):
    token = serializers.CharField(help_text="Send as `Authorization: Token <token>`. Shown only this once.")


class TokenCreateApi(APIView):
    """Exchange a username and password for a new token (one per device)."""

    authentication_classes: list = []  # credentials are in the body; a stale header must not interfere
    permission_classes = [AllowAny]
    throttle_classes = [AnonThrottle, ScopedThrottle]
    throttle_scope = "auth"  # per client address: slows password guessing
    parser_classes = [JSONParser, FormParser, MultiPartParser]

    @extend_schema(tags=[TAG_AUTH], operation_id="auth_token_create", request=CredentialsSerializer,
                   summary="Sign in: username and password for a new token (one per device)",
                   responses={201: NewTokenSerializer,
                              **errors(400, e400="Missing fields, or `invalid_credentials`."),
                              429: OpenApiResponse(ErrorSerializer, description=(
                                  "Too many requests from this address (`throttled`), or too many failed "
                                  "sign-ins for this username from this address (`locked_out`); see "
                                  "`Retry-After`."))},
                   auth=[])
    def post(self, request):
        credentials = AuthTokenSerializer(data=request.data, context={"request": request})
        valid = credentials.is_valid()  # authenticate(request=...): django-axes counts failures here
        if getattr(request, "axes_locked_out", False):
            # Axes flags the lockout on DRF's request, which its middleware never sees: answer here.
            retry_after = lockout_retry_after(request).total_seconds()
            raise ApiError(status_code=429, code="locked_out", retry_after_s=math.ceil(retry_after),
                           message=f"Too many failed sign-ins. Try again in {math.ceil(retry_after / 60)} minutes.")
        if not valid:
            if set(credentials.errors) - {"non_field_errors"}:
                credentials.is_valid(raise_exception=True)  # a missing field: the usual 400 with fields
            raise ApiError(status_code=400, code="invalid_credentials",
                           message="Unable to sign in with that username and password.")
        user = credentials.validated_data["user"]
        instance, token = AuthToken.objects.create(user=user, expiry=knox_settings.TOKEN_TTL)
        self._limit_tokens(user)
        instance.token = token
        return Response(NewTokenSerializer(instance, context={"request": request}).data,
                        status=status.HTTP_201_CREATED)

    @staticmethod
    def _limit_tokens(user) -> None:
        # Apps that sign in on every start would otherwise pile up tokens; the oldest go first.
        keep = AuthToken.objects.filter(user=user).order_by("-created")[: knox_settings.TOKEN_LIMIT_PER_USER]
        AuthToken.objects.filter(user=user).exclude(digest__in=list(keep.values_list("digest", flat=True))).delete()


class TokenListApi(APIView):
    @extend_schema(tags=[TAG_AUTH], operation_id="auth_tokens_list", summary="Your tokens (never their secret)",
                   responses={200: TokenSerializer(many=True), **errors(401)})
    def get(self, request):
        tokens = AuthToken.objects.filter(user=request.user).order_by("-created")
        return Response(TokenSerializer(tokens, many=True, context={"request": request}).data)


class TokenDetailApi(APIView):
    @extend_schema(tags=[TAG_AUTH], operation_id="auth_tokens_revoke", summary="Revoke one of your tokens",
                   parameters=[OpenApiParameter("token_id", OpenApiTypes.STR, OpenApiParameter.PATH)],
                   responses={204: None, **errors(401, 404)})
    def delete(self, request, token_id: str):
        deleted, _ = AuthToken.objects.filter(user=request.user, token_key=token_id).delete()
        if not deleted:
            raise Http404
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema_view(post=extend_schema(operation_id="auth_token_create_unversioned",
                                       summary="Same as /api/v1/auth/token/ (a stable URL outside the versions)"))
class TokenCreateUnversionedApi(TokenCreateApi):
    pass
