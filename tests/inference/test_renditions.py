"""Display copies and thumbnails: metadata never carried over, the subject kept in the frame."""

from __future__ import annotations

import io

import numpy as np
import PIL.Image
import pytest

from gallery import services
from inference import images
from tests.conftest import photo_bytes

GPS_IFD = 0x8825


def jpeg_with_exif(tags: dict | None = None, gps: dict | None = None) -> bytes:
    image = PIL.Image.fromarray(np.full((60, 80, 3), 128, dtype=np.uint8))
    exif = PIL.Image.Exif()
    for tag, value in (tags or {}).items():
        exif[tag] = value
    if gps:
        exif[GPS_IFD] = gps
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif)
    return buffer.getvalue()


def test_window_follows_the_saliency_along_the_free_axis():
    saliency = np.zeros((30, 90))
    saliency[10:20, 70:85] = 1.0  # the subject sits at the right
    left, top, right, bottom = images.saliency_window(saliency, 1.0, (900, 300))
    assert (top, bottom, right - left) == (0, 300, 300)
    assert left <= 700 and right >= 850  # the whole subject is inside the square


def test_window_is_centred_without_a_map_or_with_a_flat_one():
    assert images.saliency_window(None, 1.0, (400, 200)) == (100, 0, 300, 200)
    assert images.saliency_window(np.ones((20, 40)), 1.0, (400, 200)) == (100, 0, 300, 200)
    # A portrait photo in a 4:3 frame slides vertically.
    assert images.saliency_window(None, 4 / 3, (300, 900)) == (0, 337, 300, 562)


def test_thumbnails_have_their_spec_size_and_no_metadata():
    rgb = images.upright_rgb(PIL.Image.open(io.BytesIO(jpeg_with_exif(gps={2: (51.0, 30.0, 0.0)}))))
    for name, jpeg in images.thumbnails(rgb).items():
        with PIL.Image.open(io.BytesIO(jpeg)) as thumb:
            spec = images.THUMBNAILS[name]
            assert thumb.size == (spec.width, spec.height)
            assert not thumb.getexif() and "icc_profile" not in thumb.info


@pytest.mark.django_db
def test_upload_keeps_the_capture_date_and_serves_no_gps(make_user, django_capture_on_commit_callbacks):
    data = jpeg_with_exif({0x0132: "2021:06:05 14:30:00"}, gps={1: "N", 2: (51.0, 30.0, 0.0)})
    assert PIL.Image.open(io.BytesIO(data)).getexif().get_ifd(GPS_IFD)  # the upload does carry GPS
    with django_capture_on_commit_callbacks(execute=False):
        image = services.image_create(owner=make_user(), data=data, filename="beach.jpg")
    assert image.taken_at.strftime("%Y-%m-%d %H:%M") == "2021-06-05 14:30"
    assert image.file.open("rb").read() == data  # the original is kept byte for byte (owner only)
    for field in (image.display, image.thumbnail_square, image.thumbnail_wide):
        with PIL.Image.open(field.open("rb")) as served:
            assert served.format == "JPEG" and not served.getexif()


@pytest.mark.django_db
def test_display_copy_is_bounded_and_upright(make_user, django_capture_on_commit_callbacks, settings):
    wide = PIL.Image.fromarray(np.zeros((1500, 3000, 3), dtype=np.uint8))
    exif = PIL.Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to view
    buffer = io.BytesIO()
    wide.save(buffer, format="JPEG", exif=exif)
    with django_capture_on_commit_callbacks(execute=False):
        image = services.image_create(owner=make_user(), data=buffer.getvalue(), filename="tall.jpg")
    assert (image.width, image.height) == (1500, 3000)
    with PIL.Image.open(image.display.open("rb")) as display:
        assert display.size == (1024, 2048)


@pytest.mark.parametrize("mode", ["CMYK", "I;16", "LA", "P"])
def test_unusual_pixel_formats_become_plain_rgb(mode):
    source = PIL.Image.open(io.BytesIO(photo_bytes(3, fmt="PNG"))).convert("L")
    if mode == "I;16":
        source = PIL.Image.fromarray(np.asarray(source, dtype=np.uint16) * 257)
    else:
        source = source.convert(mode)
    rgb = images.upright_rgb(source)
    assert rgb.mode == "RGB"
    assert 0 < np.asarray(rgb).mean() < 255


def test_focus_is_high_for_one_subject_and_low_for_a_flat_map():
    flat = np.ones((40, 40))
    one_subject = np.zeros((40, 40))
    one_subject[18:22, 18:22] = 1.0
    assert images.saliency_focus(flat) == pytest.approx(0.125, abs=0.01)
    assert images.saliency_focus(one_subject) == pytest.approx(1.0)


def _blob_map_png(width: int = 320, height: int = 240, centre: tuple[int, int] = (240, 120)) -> bytes:
    from inference.overlays import saliency_map_png

    y, x = np.mgrid[0:height, 0:width]
    return saliency_map_png(np.exp(-((x - centre[0]) ** 2 + (y - centre[1]) ** 2) / (2 * 30.0**2)))


def _rgba(png: bytes) -> np.ndarray:
    with PIL.Image.open(io.BytesIO(png)) as image:
        return np.asarray(image.convert("RGBA"))


def test_overlay_rendition_is_the_map_in_the_current_look_whole_or_fitted_to_a_thumbnail():
    from inference.overlays import MAX_ALPHA, saliency_from_png, saliency_overlay_png

    peak = (252, 255, 164, MAX_ALPHA)  # the heat map's colour at saliency 1

    big_map_png = _blob_map_png(1024, 768, centre=(700, 300))
    assert images.overlay_rendition(big_map_png) == saliency_overlay_png(saliency_from_png(big_map_png))
    map_png = _blob_map_png()
    whole = _rgba(images.overlay_rendition(map_png))
    assert whole.shape == (600, 800, 4)  # a small photo's map is drawn at the size pages show it
    peak_rows, peak_cols = np.nonzero((whole == peak).all(axis=-1))
    assert abs(peak_rows.mean() - 300) < 2 and abs(peak_cols.mean() - 600) < 2  # (120, 240) x 2.5
    square = _rgba(images.overlay_rendition(map_png, images.THUMBNAILS["square"]))
    assert square.shape == (200, 200, 4)
    # The square window slides right to the subject, as the photo's square thumbnail does
    # (80..320 of 320 px): the peak at x = 240 lands at (240 - 80) / 240 of the tile.
    peak_x = np.nonzero((square == peak).all(axis=-1))[1].mean()
    assert abs(peak_x - 200 * (240 - 80) / 240) <= 2
    assert square[:, :20, 3].max() == 0  # the far left, where nobody looks, stays clear
