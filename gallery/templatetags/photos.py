from django import template

register = template.Library()


@register.filter
def thumbnail_url(image, name: str = "square") -> str:
    """{{ image|thumbnail_url:"wide" }}: the versioned URL of one of the photo's thumbnails."""
    return image.thumbnail_url(name)
