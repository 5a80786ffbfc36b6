"""Keys for rendered page fragments (photo grids, similar-photo tiles) kept in the cache.

Turning rows into tiles is most of a page's CPU: about 0.7 ms a tile in Django's template engine,
so 16-24 ms for the 24-48 tiles of a gallery or photo page (cProfile of the pages, issue 17),
against a few milliseconds for all of the page's queries. A fragment is cached under a digest of
everything it is rendered from: every column loaded of each row it shows (and of the rows loaded
with it by select_related, such as the owner; a grid loads only the columns its tiles draw), the
values the caller adds, the templates' source, and the code that turns rows into links and
labels: the URL routes (and the script prefix) the links are reversed from, and the source of the
rows' model modules (status and visibility labels, URL helpers). So a deploy that only moves a
route or renames a label starts from new keys as well.

So nothing is ever invalidated, and nothing needs to be: any change to a photo (title,
visibility, analysis status, thumbnails, deletion), by whatever path made it (a service, the
worker's ``update()``, the admin, a new model version), changes its row and so the key. And the
cache cannot show a photo to someone who may not see it: which photos a page shows is decided by
the viewer's own query on every request; the cache only saves rendering those rows, and two
viewers whose keys are equal would have rendered the same bytes. A fragment must therefore hold
nothing that belongs to the viewer (a CSRF token, their name): callers render those outside it.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import sys
from collections.abc import Callable, Iterable

from django.conf import settings
from django.core.cache import cache
from django.db.models import FileField, Model
from django.db.models.fields.files import FieldFile
from django.template.loader import get_template
from django.urls import URLPattern, URLResolver, get_resolver, get_script_prefix, get_urlconf

# How long a rendered tile is kept: its key changes with its row, so this only bounds the memory
# that tiles of photos no page shows any more hold.
FRAGMENT_SECONDS = 600


def fragment_keyer(templates: tuple[str, ...]) -> Callable[..., str]:
    """Keys for the fragments of one page (one a tile): ``keyer(rows, *extra)`` is a digest of
    ``rows`` (their loaded columns and those of the related rows loaded with them), of ``extra``
    values, of the source of ``templates`` (a deploy that changes the markup starts from new keys)
    and of the code the links and labels come from (routes, models). What every key shares (the
    templates, the routes in use) is hashed once, not read again for each of 24-48 tiles."""
    shared = hashlib.sha256(_templates_digest(templates).encode())
    shared.update(_routes_digest(get_urlconf() or settings.ROOT_URLCONF, get_script_prefix()).encode())

    def key(rows: Iterable[Model], *extra: object) -> str:
        digest = shared.copy()
        for row in rows:
            digest.update(_row_state(row).encode())
        digest.update(repr(extra).encode())
        return digest.hexdigest()

    return key


def fragments_cached(items: list, *, key: Callable[[object], str], render: Callable[[object], str],
                     join: Callable[[list[str]], str] = "".join, timeout: int = FRAGMENT_SECONDS) -> str:
    """The items' fragments (tiles) joined: the whole from the cache when a view of the same
    tiles stored it; else each tile from the cache in one round trip, rendering only those it
    lacks, and storing them and the whole in one more.

    Tiles are cached one by one because photos come in: a bulk import of public photos changes
    the newest rows several times a second (pending, running, done), and a page cached only as a
    whole rendered every tile again when one of them changed; now it renders the tiles whose row
    changed. The whole is cached too, under a digest of its tiles' keys, so that a view of an
    unchanged page costs one cache read, not one per tile (bench/page_cpu.py, with and without
    --churn)."""
    keys = [f"fragment:{key(item)}" for item in items]
    whole_key = "fragments:" + hashlib.sha256("".join(keys).encode()).hexdigest()
    whole = cache.get(whole_key)
    if whole is not None:
        return whole
    found = cache.get_many(keys) if keys else {}
    rendered, missing = [], {}
    for name, item in zip(keys, items, strict=True):
        html = found.get(name)
        if html is None:
            html = missing[name] = render(item)
        rendered.append(html)
    whole = join(rendered)
    cache.set_many({**missing, whole_key: whole}, timeout)
    return whole


def _row_state(row: Model) -> str:
    # Every column loaded; a query that loads fewer (.only(), as the grids do) keys the tile by
    # those it can draw, and a column it did not load cannot be on the tile. A loaded column is
    # one in the instance's __dict__ (what Model.get_deferred_fields tests), read from there at
    # half the CPU for a 48-tile grid; a file column by its stored name, whether or not its
    # descriptor has replaced the name there with a FieldFile yet.
    model, loaded = type(row), row.__dict__
    values = [model.__name__, _model_code_digest(model),
              *((name, _file_name(loaded[name]) if is_file else loaded[name])
                for name, is_file in _columns(model) if name in loaded)]
    # select_related rows (the photo's owner): their names are shown on tiles too.
    for related in row._state.fields_cache.values():
        if isinstance(related, Model):
            values.append(_row_state(related))
    return repr(values)


def _file_name(value) -> str | None:
    return value.name if isinstance(value, FieldFile) else value


@functools.cache
def _columns(model: type[Model]) -> tuple[tuple[str, bool], ...]:
    return tuple((field.attname, isinstance(field, FileField)) for field in model._meta.concrete_fields)


@functools.cache
def _model_code_digest(model: type[Model]) -> str:
    # The module holds the labels of the row's choices and its URL helpers (get_absolute_url,
    # thumbnail_url): read once per process, and a process runs one version of the code.
    return hashlib.sha256(inspect.getsource(sys.modules[model.__module__]).encode()).hexdigest()[:16]


@functools.cache
def _routes_digest(urlconf: str, script_prefix: str) -> str:
    """Every route of ``urlconf`` (pattern, name, namespace) under ``script_prefix``: a tile's links
    are reversed from them, so moving one (a route-only deploy) must not serve old links."""
    routes: list[str] = [script_prefix]

    def walk(patterns, prefix: str) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, f"{prefix}{pattern.pattern}|{pattern.namespace}:")
            elif isinstance(pattern, URLPattern):
                routes.append(f"{prefix}{pattern.pattern} {pattern.name}")

    walk(get_resolver(urlconf).url_patterns, "")
    return hashlib.sha256("\n".join(routes).encode()).hexdigest()


@functools.cache
def _templates_digest(names: tuple[str, ...]) -> str:
    sources = "\0".join(get_template(name).template.source for name in names)
    return hashlib.sha256(sources.encode()).hexdigest()
