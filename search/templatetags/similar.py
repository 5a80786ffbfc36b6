"""The "Similar photos" section that search adds to the gallery's photo page.

The page is the gallery's (gallery.views.photo) and the gallery does not import search: its
template loads this tag instead, so the section is composed where pages are, in templates.
"""

from __future__ import annotations

from django import template
from django.urls import reverse

from gallery.platform.fragments import fragment_key
from search.selectors import SimilarPage, image_similar_page
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


@register.simple_tag
def similar_tiles_key(similar: SimilarPage | None, more_url: str) -> str:
    """{% similar_tiles_key similar more_url as key %}: the cache key of a page of similar-photo
    tiles: the result photos' rows, their scores and overlays, and where "Show more" goes next.
    (``similar`` is None while a search's photo is being analysed: no tiles.)"""
    if similar is None:
        return fragment_key([], None, more_url, templates=("search/_similar_tiles.html",))
    scores = [(item.similarity, item.whole_similarity, item.crop_similarity, item.overlay_url)
              for item in similar.results]
    return fragment_key([item.image for item in similar.results], scores, similar.offset, similar.has_more,
                        more_url, templates=("search/_similar_tiles.html",))
