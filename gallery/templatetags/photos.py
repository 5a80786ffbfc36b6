import base64
import functools

from django import template

from gallery.platform.fragments import fragment_key
from inference.overlays import saliency_legend_png

register = template.Library()


@register.filter
def thumbnail_url(image, name: str = "square") -> str:
    """{{ image|thumbnail_url:"wide" }}: the versioned URL of one of the photo's thumbnails."""
    return image.thumbnail_url(name)


@register.simple_tag
def tiles_key(images, *flags) -> str:
    """{% tiles_key page.object_list show_owner ... as key %}: the cache key of a grid's tiles."""
    return fragment_key(images, *flags, templates=("gallery/_tiles.html", "gallery/_tile.html"))


@register.simple_tag
def saliency_legend_src() -> str:
    """The heat map's legend as a data: URL, drawn by the code that draws the heat maps, so the
    two cannot disagree (a few hundred bytes; the Content Security Policy allows data: images)."""
    return _legend_data_url()


@functools.cache
def _legend_data_url() -> str:
    return "data:image/png;base64," + base64.b64encode(saliency_legend_png()).decode("ascii")
