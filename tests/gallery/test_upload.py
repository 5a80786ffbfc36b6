"""image_create: the one upload path. Valid photos become rows and files; bad input leaves nothing."""

from __future__ import annotations

import io
import struct
import zlib

import PIL.Image
import pytest
from django.core.files.storage import default_storage

from gallery import services
from gallery.models import Image
from tests.conftest import photo_bytes

pytestmark = pytest.mark.django_db


def stored_files() -> list[str]:
    if not default_storage.exists("images"):
        return []
    found = []
    for prefix in default_storage.listdir("images")[0]:
        found += default_storage.listdir(f"images/{prefix}")[1]
    return found


def test_valid_upload_creates_row_and_file(make_user, django_capture_on_commit_callbacks):
    owner = make_user()
    data = photo_bytes(1, size=(400, 300))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        image = services.image_create(owner=owner, data=data, filename="Beach_day.jpg")
    assert (image.width, image.height, image.content_type) == (400, 300, "image/jpeg")
    assert image.title == "Beach day"
    assert image.visibility == "private"
    assert image.file.name.startswith("images/") and image.id.hex in image.file.name
    with image.file.open("rb") as handle:
        assert handle.read() == data
    assert len(callbacks) == 1, "analysis is queued exactly once, after commit"


def test_uploads_queue_the_workers_analysis_task_by_its_name():
    from celery import current_app

    from inference.tasks import image_analyze_task

    assert image_analyze_task.name == services.ANALYSIS_TASK
    assert current_app.amqp.router.route({}, services.ANALYSIS_TASK)["queue"].name == "inference"


def test_exif_rotation_sets_upright_size(make_user):
    img = PIL.Image.open(io.BytesIO(photo_bytes(2, size=(400, 300))))
    exif = PIL.Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    buffer = io.BytesIO()
    img.save(buffer, format="JPEG", exif=exif)
    image = services.image_create(owner=make_user(), data=buffer.getvalue(), filename="phone.jpg")
    assert (image.width, image.height) == (300, 400)


def test_same_bytes_twice_is_a_duplicate(make_user):
    owner = make_user()
    data = photo_bytes(3)
    first = services.image_create(owner=owner, data=data, filename="a.jpg")
    with pytest.raises(services.DuplicateImage) as exc:
        services.image_create(owner=owner, data=data, filename="b.jpg")
    assert exc.value.existing == first
    # another person may upload the same photo
    services.image_create(owner=make_user(), data=data, filename="a.jpg")
    assert Image.objects.count() == 2


def _png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG that declares a huge size: the decompression-bomb case."""
    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
            + chunk(b"IEND", b""))


BAD_UPLOADS = {
    "not an image": (b"hello, this is a text file\n" * 10, "notes.jpg", "not an image"),
    "zero bytes": (b"", "empty.jpg", "empty"),
    "truncated jpeg": (photo_bytes(4, size=(640, 480))[:3000], "cut.jpg", "truncated"),
    "decompression bomb": (_png_header_only(30000, 30000), "bomb.png", "megapixels"),
    "wrong extension": (photo_bytes(5), "photo.png", "named .png but contains a JPEG"),
}


@pytest.mark.parametrize("case", BAD_UPLOADS, ids=list(BAD_UPLOADS))
def test_bad_input_is_rejected_and_leaves_nothing(case, make_user, django_capture_on_commit_callbacks):
    data, filename, expected = BAD_UPLOADS[case]
    with django_capture_on_commit_callbacks(execute=False) as callbacks, pytest.raises(services.ImageRejected) as exc:
        services.image_create(owner=make_user(), data=data, filename=filename)
    assert expected in exc.value.message
    assert Image.objects.count() == 0
    assert stored_files() == []
    assert callbacks == []


def test_file_over_size_cap_is_rejected(make_user, settings):
    settings.UPLOAD_MAX_BYTES = 10_000
    data = photo_bytes(6, size=(800, 600), quality=95)
    assert len(data) > 10_000
    with pytest.raises(services.ImageRejected, match="limit is"):
        services.image_create(owner=make_user(), data=data, filename="big.jpg")
    assert Image.objects.count() == 0 and stored_files() == []


def test_failed_insert_removes_the_stored_file(make_user, monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(Image, "save", explode)
    with pytest.raises(RuntimeError):
        services.image_create(owner=make_user(), data=photo_bytes(7), filename="x.jpg")
    assert stored_files() == []
