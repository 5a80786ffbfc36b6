"""Hostile uploads: crafted and randomly mutated files fed to the one upload service.

Whatever arrives, image_create either keeps a photo (a row, its original, a re-encoded display copy
and thumbnails that carry pixels only) or refuses it with ImageRejected and leaves nothing behind:
no other exception, no half-made row, no orphan file.
"""

from __future__ import annotations

import io
from pathlib import Path

import PIL.Image
import pytest
from hypothesis import HealthCheck, event, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from gallery import services
from gallery.models import Image, Visibility
from tests.security.hostile_files import PIXEL_ONLY_JPEG_MARKERS, SCRIPT, SEEDS, jpeg_markers

pytestmark = pytest.mark.django_db

ACCEPTED = "accepted"
# What each crafted file must give: accepted, or rejected with one of these codes.
EXPECTED: dict[str, object] = {
    **{name: ACCEPTED for name in SEEDS if name.startswith(("jpeg", "png", "gif", "webp", "tiff", "bmp"))},
    "jpeg_truncated": {"corrupt", "not_an_image"},
    "png_truncated": {"corrupt", "not_an_image"},
    "jpeg_named_png": {"wrong_extension"},
    "bomb_declared": {"too_many_pixels"},
    "bomb_gif_screen": {"too_many_pixels"},
    "huge_dimensions_wide": {"too_many_pixels"},
    "extreme_aspect_ratio": ACCEPTED,  # 2 MP in one row: within the caps, and thumbnails still work
    "polyglot_jpeg_html": ACCEPTED,  # a valid JPEG: kept, but only its pixels are ever served
    "polyglot_gif_js": {"corrupt", "not_an_image"},
    "svg_as_png": {"not_an_image"},
    "svg": {"not_an_image"},
    "html_as_jpeg": {"not_an_image"},
    "pdf_as_jpeg": {"not_an_image"},
    "empty": {"empty"},
}


def media_files(root: Path) -> set[str]:
    return {str(path.relative_to(root)) for path in root.rglob("*") if path.is_file()} if root.exists() else set()


def upload_and_check(owner, filename: str, data: bytes, media_root: Path):
    """Upload one file and check the promise either way; return the photo or the rejection."""
    rows, files = Image.objects.count(), media_files(media_root)
    try:
        image = services.image_create(owner=owner, data=data, filename=filename, visibility=Visibility.PUBLIC)
    except services.ImageRejected as rejected:
        assert rejected.message and rejected.code, "a rejection must say why"
        assert Image.objects.count() == rows, "a rejected upload left a row"
        assert media_files(media_root) == files, "a rejected upload left files"
        return rejected
    image.refresh_from_db()
    assert Image.objects.count() == rows + 1
    stored = {f.name for f in (image.file, image.display, image.thumbnail_square, image.thumbnail_wide)}
    assert "" not in stored, "a kept photo lacks a rendition"
    assert media_files(media_root) - files == stored, "files written other than the photo's own"
    assert read(image.file) == data, "the original must be kept byte for byte"
    for field in (image.display, image.thumbnail_square, image.thumbnail_wide):
        assert_pixels_only(read(field))
    with PIL.Image.open(io.BytesIO(read(image.display))) as display:
        assert max(display.size) <= max(image.width, image.height)
        assert (display.width >= display.height) == (image.width >= image.height), "orientation lost"
    return image


def read(field) -> bytes:
    with field.open("rb") as handle:
        return handle.read()


def assert_pixels_only(served: bytes) -> None:
    """A rendition is a fresh baseline/progressive JPEG: no EXIF (so no GPS), no comment, no script."""
    assert set(jpeg_markers(served)) <= PIXEL_ONLY_JPEG_MARKERS, [hex(m) for m in jpeg_markers(served)]
    with PIL.Image.open(io.BytesIO(served)) as rendition:
        assert rendition.format == "JPEG" and rendition.mode == "RGB"
        assert not rendition.getexif(), "metadata survived re-encoding"
        assert "comment" not in rendition.info and "icc_profile" not in rendition.info
        rendition.load()
    assert SCRIPT not in served


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_crafted_file_is_kept_clean_or_refused_cleanly(name, make_user, settings):
    filename, data = SEEDS[name]
    outcome = upload_and_check(make_user(), filename, data, Path(settings.MEDIA_ROOT))
    expected = EXPECTED[name]
    if expected == ACCEPTED:
        assert isinstance(outcome, Image), f"{name} was refused: {getattr(outcome, 'message', '')}"
    else:
        assert isinstance(outcome, services.ImageRejected), f"{name} was kept"
        assert outcome.code in expected, f"{name}: {outcome.code}: {outcome.message}"


def test_a_real_decompression_bomb_is_refused_before_decoding(make_user, settings):
    # A fully valid PNG, 36 MB of pixels in a few kB: refused from its header, under a lowered cap.
    from tests.security.hostile_files import png_zero_bomb

    settings.UPLOAD_MAX_PIXELS = 4_000_000
    bomb = png_zero_bomb(6000)
    assert len(bomb) < 100_000
    outcome = upload_and_check(make_user(), "bomb.png", bomb, Path(settings.MEDIA_ROOT))
    assert isinstance(outcome, services.ImageRejected) and outcome.code == "too_many_pixels"


@st.composite
def mutated_files(draw) -> tuple[str, bytes]:
    """A seed file with a few random byte-level edits, under a random name."""
    filename, data = draw(st.sampled_from(sorted(SEEDS.values())))
    data = bytearray(data)
    for _ in range(draw(st.integers(0, 4))):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        edit = draw(st.sampled_from(["truncate", "flip", "insert", "delete", "overwrite", "splice"]))
        if edit == "truncate":
            del data[at:]
        elif edit == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif edit == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=64))
        elif edit == "delete":
            del data[at:at + draw(st.integers(1, 64))]
        elif edit == "overwrite":
            chunk = draw(st.binary(min_size=1, max_size=16))
            data[at:at + len(chunk)] = chunk
        else:  # another file's tail after this one's head: a chimera of two formats
            _, other = draw(st.sampled_from(sorted(SEEDS.values())))
            data = data[:at] + other[draw(st.integers(0, max(0, len(other) - 1))):]
    other_names = ["photo.jpg", "photo.png", "photo.gif", "photo.webp", "noextension", "../../escape.jpg", "photo.svg",
                   "photo.html"]
    name = draw(st.one_of(st.just(filename), st.sampled_from(other_names)))
    return name, bytes(data)


@hypothesis_settings(max_examples=600, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(upload=mutated_files())
def test_mutated_files_never_crash_the_upload_service_or_leave_anything_behind(upload, make_user, settings):
    filename, data = upload
    outcome = upload_and_check(make_user(), filename, data, Path(settings.MEDIA_ROOT))
    event("kept" if isinstance(outcome, Image) else f"refused: {outcome.code}")


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_every_upload_door_answers_a_crafted_file_without_a_server_error(name, make_user,
                                                                          django_capture_on_commit_callbacks):
    """The API (photos and searches), the upload page (form and script) and search by photo on the
    site all reach the same checks."""
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.test import Client
    from rest_framework.test import APIClient

    filename, data = SEEDS[name]
    accepted = EXPECTED[name] == ACCEPTED
    api, web = APIClient(), Client()
    api.force_authenticate(make_user())
    web.force_login(make_user())

    def file():
        return SimpleUploadedFile(filename, data, content_type="application/octet-stream")

    with django_capture_on_commit_callbacks(execute=False):
        refused = (400, 413, 415)  # 413: too many bytes or pixels; 415: not an image we take
        response = api.post("/api/v1/photos/", {"file": file()}, format="multipart")
        assert response.status_code in ((201,) if accepted else refused), response.content[:300]
        if not accepted:
            error = response.json()["error"]
            assert error["message"], "a refusal says why"
            # DRF itself refuses an empty file, before the service: a field error.
            assert error["code"] in EXPECTED[name] or (name == "empty" and error["fields"]["file"]), error
        response = api.post("/api/v1/searches/", {"file": file()}, format="multipart")
        assert response.status_code in ((202,) if accepted else refused), response.content[:300]
        response = web.post("/upload/", {"file": file(), "visibility": "private"}, HTTP_ACCEPT="application/json")
        assert response.status_code == (201 if accepted else 400), response.content[:300]
        response = web.post("/upload/", {"files": file(), "visibility": "private"}, follow=True)
        assert response.status_code == 200
        response = web.post("/search/", {"photo": file()})
        assert response.status_code == (302 if accepted else 200)  # the form again, with the reason
