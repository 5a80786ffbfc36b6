"""The fail-open Redis cache keeps one redis client per connection pool instead of one per call."""

from __future__ import annotations

import pytest
from django.core.cache import caches

from gallery.platform.cache import FailOpenRedisCache


def test_one_client_per_pool_and_it_still_reads_and_writes():
    cache = caches["default"]
    if not isinstance(cache, FailOpenRedisCache):
        pytest.skip("the test settings have no Redis cache")
    backend = cache._cache
    assert backend.get_client("a") is backend.get_client("b") is backend.get_client("c", write=True)
    cache.set("test-one-client", {"x": 1}, 30)
    assert cache.get("test-one-client") == {"x": 1}
    cache.delete("test-one-client")
    assert cache.get("test-one-client") is None
