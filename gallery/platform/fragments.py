"""Keys for rendered page fragments (photo grids, similar-photo tiles) kept in the cache.

Turning rows into tiles is most of a page's CPU: about 0.7 ms a tile in Django's template engine,
so 16-24 ms for the 24-48 tiles of a gallery or photo page (cProfile of the pages, issue 17),
against a few milliseconds for all of the page's queries. A fragment is cached under a digest of
everything it is rendered from: every column of each row it shows (and of the rows loaded with it
by select_related, such as the owner), the values the caller adds, and the templates' source.

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
from collections.abc import Iterable

from django.db.models import Model
from django.template.loader import get_template


def fragment_key(rows: Iterable[Model], *extra: object, templates: tuple[str, ...]) -> str:
    """A digest of ``rows`` (all their columns and those of the related rows loaded with them),
    of ``extra`` values and of the source of ``templates`` (a deploy that changes the markup
    starts from new keys)."""
    digest = hashlib.sha256(_templates_digest(templates).encode())
    for row in rows:
        digest.update(_row_state(row).encode())
    digest.update(repr(extra).encode())
    return digest.hexdigest()


def _row_state(row: Model) -> str:
    values = [type(row).__name__, *(getattr(row, field.attname) for field in row._meta.concrete_fields)]
    # select_related rows (the photo's owner): their names are shown on tiles too.
    for related in row._state.fields_cache.values():
        if isinstance(related, Model):
            values.append(_row_state(related))
    return repr(values)


@functools.cache
def _templates_digest(names: tuple[str, ...]) -> str:
    sources = "\0".join(get_template(name).template.source for name in names)
    return hashlib.sha256(sources.encode()).hexdigest()
