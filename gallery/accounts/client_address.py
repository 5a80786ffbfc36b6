"""The address a login attempt came from, for the lockout (AXES_CLIENT_IP_CALLABLE)."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def login_client_address(request: HttpRequest) -> str | None:
    """REMOTE_ADDR, unless LOGIN_PROXY_COUNT trusted proxies stand in front of the app.

    Each such proxy appends the address it received the request from to X-Forwarded-For, so the
    client is the LOGIN_PROXY_COUNT-th entry from the right. Entries further left were written by
    the client and are ignored: otherwise an attacker could make up a new address per attempt and
    never be locked out. With no proxies configured the header is ignored entirely, for the same reason.
    """
    remote_addr = request.META.get("REMOTE_ADDR")
    proxies = settings.LOGIN_PROXY_COUNT
    if not proxies:
        return remote_addr
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    return forwarded[-proxies] if len(forwarded) >= proxies else remote_addr
