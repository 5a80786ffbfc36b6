"""A Redis cache that behaves as an empty cache while Redis is unreachable.

The cache shares its Redis with the Celery broker and holds only what can be lost: API throttle
counters. When that Redis is down (a restart, a failover), failing every request that touches
the cache would turn a broker outage into a site outage; instead reads miss, writes are dropped
and throttling is off until Redis is back. Logged at most once a minute.
"""

from __future__ import annotations

import functools
import logging
import time

from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

_UNREACHABLE = (RedisConnectionError, RedisTimeoutError)
_LOG_EVERY_S = 60.0
_last_logged = 0.0


def _on_outage(returns):
    """Run the Redis call; while Redis is unreachable, log and give ``returns(*args)`` instead."""

    def decorate(method):
        @functools.wraps(method)
        def wrapper(self, *args, **kwargs):
            try:
                return method(self, *args, **kwargs)
            except _UNREACHABLE as exc:
                global _last_logged
                if time.monotonic() - _last_logged > _LOG_EVERY_S:
                    _last_logged = time.monotonic()
                    logger.warning("cache unavailable, serving without it: %s", exc)
                return returns(*args, **kwargs)

        return wrapper

    return decorate


def _incr_missing(key, delta):
    raise ValueError(f"Key {key!r} not found.")  # what Django's incr says about a missing key


class FailOpenRedisCacheClient(RedisCacheClient):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict = {}

    def get_client(self, key=None, *, write=False):
        # Django makes a redis.Redis per call, and each one builds its table of ~170 response
        # callbacks: about a fifth of a millisecond of CPU, twice a page (the session and the
        # tiles), 8 % of a grid page's (cProfile of bench/page_cpu.py, issue 17). One client per
        # connection pool does the same: a client is thread-safe and takes its connections
        # from the pool for each command.
        pool = self._get_connection_pool(write)
        client = self._clients.get(pool)
        if client is None:
            client = self._clients[pool] = self._client(connection_pool=pool)
        return client

    get = _on_outage(lambda key, default: default)(RedisCacheClient.get)
    get_many = _on_outage(lambda keys: {})(RedisCacheClient.get_many)
    has_key = _on_outage(lambda key: False)(RedisCacheClient.has_key)
    add = _on_outage(lambda key, value, timeout: False)(RedisCacheClient.add)
    set = _on_outage(lambda key, value, timeout: None)(RedisCacheClient.set)
    set_many = _on_outage(lambda data, timeout: [])(RedisCacheClient.set_many)
    touch = _on_outage(lambda key, timeout: False)(RedisCacheClient.touch)
    incr = _on_outage(_incr_missing)(RedisCacheClient.incr)
    delete = _on_outage(lambda key: False)(RedisCacheClient.delete)
    delete_many = _on_outage(lambda keys: None)(RedisCacheClient.delete_many)
    clear = _on_outage(lambda: False)(RedisCacheClient.clear)


class FailOpenRedisCache(RedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = FailOpenRedisCacheClient
