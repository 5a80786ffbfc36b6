"""A photo's heat map: the URL pages use for it, and the answer that draws it (the photo page,
result tiles and the API).

Drawn on request from the analysis's stored 8-bit saliency map (inference.images.overlay_rendition),
so every photo shows the current look, however old its analysis. Drawing costs tens of
milliseconds, less than the file this replaced took to crop for a result tile (bench/overlay.py).
"""

from __future__ import annotations

import hashlib

from django.http import Http404, HttpResponse

from gallery.platform.media import file_response
from gallery.platform.routes import reverse_uuid
from inference.images import ThumbnailSpec, overlay_rendition
from inference.models import ImageAnalysis
from inference.overlays import overlay_look


def overlay_page_url(analysis: ImageAnalysis) -> str:
    """The pages' URL of a photo's heat map. It names the stored map and the look it is drawn in
    (both change the picture), so browsers may keep it for a day: heat maps are drawn per request,
    and every result tile shows one by default. Add ``&fit=square`` for a result tile's."""
    return overlay_page_url_of(image_id=analysis.image_id, map_name=analysis.saliency_map.name)


def overlay_page_url_of(*, image_id, map_name: str) -> str:
    """overlay_page_url from the analysis's photo and stored map name alone (a results page reads
    just those in its ranking query)."""
    version = hashlib.sha1(f"{map_name}:{overlay_look()}".encode()).hexdigest()[:10]
    return f"{reverse_uuid('gallery:overlay', image_id)}?v={version}"


def heatmap_response(analysis: ImageAnalysis | None, *, cache_control: str,
                     spec: ThumbnailSpec | None = None) -> HttpResponse:
    """The analysis's heat map, whole or (with ``spec``) cropped to that thumbnail's window. An
    analysis without a stored map has only its stored overlay PNG to give."""
    if analysis is not None and analysis.saliency_map:
        with analysis.saliency_map.open("rb") as handle:
            body = overlay_rendition(handle.read(), spec)
        response = HttpResponse(body, content_type="image/png")
        response["Cache-Control"] = cache_control
        return response
    if analysis is None or not analysis.overlay:
        raise Http404("This photo has no saliency overlay yet.")
    return file_response(analysis.overlay, content_type="image/png", cache_control=cache_control)
