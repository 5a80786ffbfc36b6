"""The "Similar photos" section that search adds to the gallery's photo page.

The page is the gallery's (gallery.views.photo) and the gallery does not import search: its
template loads this tag instead, so the section is composed where pages are, in templates.
"""

from __future__ import annotations

from django import template
from django.urls import reverse
from django.utils.safestring import mark_safe

from gallery.platform.fragments import fragment_keyer, fragments_cached
from search.selectors import SimilarImage, SimilarPage, image_similar_page
from search.views import SIMILAR_PAGE_SIZE

register = template.Library()


@register.inclusion_tag("search/_similar_section.html", takes_context=True)
def similar_section(context, image) -> dict:
    """``{% similar_section image %}``: the first page of photos most like ``image`` among those the
    viewer may see; "Show more" fetches the next pages (search.views.photo_similar)."""
    request = context["request"]
    return {
        "similar": image_similar_page(viewer=request.user, image=image, limit=SIMILAR_PAGE_SIZE),
        "more_url": reverse("search:photo_similar", args=[image.id]),
        "request": request,
    }


SIMILAR_TILE_TEMPLATE = "search/_similar_tile.html"


@register.simple_tag(takes_context=True)
def cached_similar_tiles(context, similar: SimilarPage | None) -> str:
    """{% cached_similar_tiles similar %}: each result's tile, cached one tile at a time
    (gallery.platform.fragments.fragments_cached). (``similar`` is None while a search's photo
    is being analysed: no tiles.)"""

    def render(item: SimilarImage) -> str:
        template = context.template.engine.get_template(SIMILAR_TILE_TEMPLATE)  # only for a tile the cache lacks
        with context.push(item=item):
            return template.render(context)

    keyer = fragment_keyer((SIMILAR_TILE_TEMPLATE,))
    tiles = fragments_cached(similar.results if similar is not None else [], render=render,
                             join=_tiles_join, key=lambda item: similar_tile_key(item, keyer=keyer))
    return mark_safe(tiles)  # rendered (and escaped) by the template engine


def similar_tile_key(item: SimilarImage, *, keyer=None) -> str:
    """The cache key of a result's tile: its photo's row (and owner's), its scores and overlay."""
    scores = (item.similarity, item.whole_similarity, item.crop_similarity, item.overlay_url)
    return (keyer or fragment_keyer((SIMILAR_TILE_TEMPLATE,)))([item.image], scores)


def _tiles_join(tiles: list[str]) -> str:
    return "".join(f"\n  {tile}\n" for tile in tiles)
