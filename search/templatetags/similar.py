"""The "Similar photos" section that search adds to the gallery's photo page.

The page is the gallery's (gallery.views.photo) and the gallery does not import search: its
template loads this tag instead, so the section is composed where pages are, in templates.
"""

from __future__ import annotations

from django import template
from django.urls import reverse

from search.selectors import image_similar_page
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
