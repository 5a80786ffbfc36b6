import base64
import functools

from django import template
from django.utils.safestring import mark_safe

from gallery.platform.fragments import fragment_keyer, fragments_cached
from inference.overlays import saliency_legend_png

register = template.Library()


@register.filter
def thumbnail_url(image, name: str = "square") -> str:
    """{{ image|thumbnail_url:"wide" }}: the versioned URL of one of the photo's thumbnails."""
    return image.thumbnail_url(name)


TILE_TEMPLATE = "gallery/_tile.html"


@register.simple_tag(takes_context=True)
def cached_tiles(context, images, show_owner=False, show_visibility=False) -> str:
    """{% cached_tiles page.object_list show_owner show_visibility %}: each photo's tile, as
    ``{% include "gallery/_tile.html" %}`` renders it in this context, cached one tile at a time
    (gallery.platform.fragments.fragments_cached). Not for tiles holding the viewer's own data
    (the album page's remove buttons carry a CSRF token): the key knows only the row and flags."""

    def render(image) -> str:
        template = context.template.engine.get_template(TILE_TEMPLATE)  # only for a tile the cache lacks
        with context.push(image=image, show_owner=show_owner, show_visibility=show_visibility,
                          remove_from_album=None):
            return template.render(context)

    keyer = fragment_keyer((TILE_TEMPLATE,))
    tiles = fragments_cached(list(images), render=render, join=_tiles_join,
                             key=lambda image: keyer([image], bool(show_owner), bool(show_visibility)))
    return mark_safe(tiles)  # rendered (and escaped) by the template engine


@register.simple_tag
def saliency_legend_src() -> str:
    """The heat map's legend as a data: URL, drawn by the code that draws the heat maps, so the
    two cannot disagree (a few hundred bytes; the Content Security Policy allows data: images)."""
    return _legend_data_url()


@functools.cache
def _legend_data_url() -> str:
    return "data:image/png;base64," + base64.b64encode(saliency_legend_png()).decode("ascii")


def _tiles_join(tiles: list[str]) -> str:
    return "".join(f"\n  {tile}\n" for tile in tiles)
