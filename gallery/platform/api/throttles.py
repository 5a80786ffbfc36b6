"""Throttles for every API view: rates per scope from settings.API_THROTTLE_RATES."""

from __future__ import annotations

from django.conf import settings
from rest_framework.throttling import AnonRateThrottle, ScopedRateThrottle, UserRateThrottle


class _RateFromSettings:
    """DRF binds throttle rates at import time; reading them per request lets settings (and tests)
    change them. Counters live in the shared Redis cache, so every web process counts together."""

    def get_rate(self):
        return settings.API_THROTTLE_RATES.get(self.scope)


class AnonThrottle(_RateFromSettings, AnonRateThrottle):
    pass


class UserThrottle(_RateFromSettings, UserRateThrottle):
    pass


class ScopedThrottle(_RateFromSettings, ScopedRateThrottle):
    """Per account (or per address when anonymous) for views that set ``throttle_scope``."""
