"""Heat maps are drawn from the stored saliency map on request, so photos analysed before a change
of look show the new look through every URL without a re-analysis."""

from __future__ import annotations

import io
import re

import numpy as np
import PIL.Image
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from knox.models import AuthToken

from gallery.models import Visibility
from inference.configuration import configured_model_version
from inference.images import THUMBNAILS, overlay_rendition
from inference.models import ImageAnalysis, analysis_file_name
from inference.overlays import saliency_map_png
from inference.versions import EMBEDDING_DIM
from tests.conftest import index_photo

pytestmark = pytest.mark.django_db


def _png_rgba(data: bytes) -> np.ndarray:
    with PIL.Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGBA"))


def test_page_and_api_overlays_follow_the_stored_map_not_the_stored_overlay(client, make_user, photo):
    owner = make_user()
    image = index_photo(photo(owner=owner, visibility=Visibility.PUBLIC), np.ones(EMBEDDING_DIM))
    y, x = np.mgrid[0:240, 0:320]
    map_png = saliency_map_png(np.exp(-((x - 100) ** 2 + (y - 120) ** 2) / (2 * 35.0**2)))
    stale = io.BytesIO()
    PIL.Image.new("RGBA", (320, 240), (255, 0, 0, 128)).save(stale, format="PNG")  # an old look
    ImageAnalysis.objects.filter(image=image, model_version=configured_model_version()).update(
        saliency_map=default_storage.save(analysis_file_name(image.id, configured_model_version(), "saliency.png"),
                                          ContentFile(map_png)),
        overlay=default_storage.save(analysis_file_name(image.id, configured_model_version(), "overlay.png"),
                                     ContentFile(stale.getvalue())),
    )
    expected = {"": overlay_rendition(map_png), "square": overlay_rendition(map_png, THUMBNAILS["square"])}

    page = client.get(f"/photos/{image.id}/overlay.png")
    assert page.status_code == 200 and page["Content-Type"] == "image/png"
    assert page.content == expected[""]
    tile = client.get(f"/photos/{image.id}/overlay.png?fit=square")
    assert tile.content == expected["square"] and _png_rgba(tile.content).shape == (200, 200, 4)

    _, token = AuthToken.objects.create(user=owner)
    api = client.get(f"/api/v1/photos/{image.id}/overlay/", HTTP_AUTHORIZATION=f"Token {token}")
    assert api.status_code == 200 and api["Content-Type"] == "image/png"
    assert api.content == expected[""]
    rgba = _png_rgba(api.content)
    assert rgba.shape == (600, 800, 4)  # drawn at the size the page shows a 320-px photo
    assert rgba[300, 250, 3] > 200 and rgba[25, 750, 3] == 0  # opaque at the subject, clear far away


def test_pages_link_heat_maps_by_map_and_look_so_browsers_may_keep_them(client, make_user, photo):
    """Heat maps are on by default on every result tile and drawn per request: the pages' URLs
    name the stored map and the look, so a browser keeps each for a day and a new map or a new
    look is a new URL."""
    owner = make_user()
    image = index_photo(photo(owner=owner, visibility=Visibility.PUBLIC), np.ones(EMBEDDING_DIM))
    other = index_photo(photo(owner=owner, visibility=Visibility.PUBLIC), np.ones(EMBEDDING_DIM))
    for each in (image, other):
        ImageAnalysis.objects.filter(image=each).update(
            saliency_map=default_storage.save(analysis_file_name(each.id, configured_model_version(), "saliency.png"),
                                              ContentFile(saliency_map_png(np.eye(24)))),
            overlay="analysis/overlay.png")
    client.force_login(owner)
    html = client.get(f"/photos/{image.id}/").content.decode()
    url = re.search(rf'id="overlay" src="(/photos/{image.id}/overlay\.png\?v=\w+)"', html).group(1)
    tile_url = re.search(rf'src="(/photos/{other.id}/overlay\.png\?v=\w+)&amp;fit=square"', html).group(1)
    tile_url += "&fit=square"
    assert client.get(url)["Cache-Control"] == "private, max-age=86400"
    tile = client.get(tile_url)
    assert tile["Cache-Control"] == "private, max-age=86400" and _png_rgba(tile.content).shape == (200, 200, 4)
    assert client.get(f"/photos/{image.id}/overlay.png")["Cache-Control"] == "private, max-age=300"  # unversioned

    ImageAnalysis.objects.filter(image=image).update(saliency_map="analysis/another-map.png")  # a re-analysis
    assert url not in client.get(f"/photos/{image.id}/").content.decode()
