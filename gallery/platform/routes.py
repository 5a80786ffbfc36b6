"""``reverse()`` for the links a page makes dozens of times: a route with one uuid argument.

Django's ``reverse()`` costs about 0.25 ms of CPU a call (cProfile of bench/page_cpu.py, issue 17)
and a results page made 25-36 of them, one per result's heat map and more per photo. The URL of
such a route is a fixed prefix and suffix around the uuid's text, so it is reversed once per
process (per route, URL configuration and script prefix, what ``reverse()`` reads)
and joined after that. The text is reverse()'s: a uuid's hex digits and hyphens need no quoting.
"""

from __future__ import annotations

import functools
import uuid

from django.conf import settings
from django.urls import get_script_prefix, get_urlconf, reverse

_PLACEHOLDER = uuid.UUID(int=0x5EED)


def reverse_uuid(viewname: str, value) -> str:
    """``reverse(viewname, args=[value])`` for a route whose one argument is a uuid."""
    if not isinstance(value, uuid.UUID):
        return reverse(viewname, args=[value])
    prefix, suffix = _around(viewname, get_urlconf() or settings.ROOT_URLCONF, get_script_prefix())
    return f"{prefix}{value}{suffix}"


@functools.lru_cache(maxsize=256)
def _around(viewname: str, urlconf: str, script_prefix: str) -> tuple[str, str]:
    url = reverse(viewname, urlconf=urlconf, args=[_PLACEHOLDER])
    prefix, found, suffix = url.partition(str(_PLACEHOLDER))
    if not found or str(_PLACEHOLDER) in suffix:
        raise ValueError(f"{viewname}: its URL does not hold its argument once")
    return prefix, suffix
