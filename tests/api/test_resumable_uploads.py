"""Resumable uploads (tus 1.0 at /api/v1/uploads/): resume after a dropped connection, byte-identical
photos, the same checks as any upload, owner-only uploads, and no chunks left behind."""

from __future__ import annotations

import base64
import datetime
from pathlib import Path

import pytest
from django.utils import timezone

from gallery import services
from gallery.models import Image, ResumableUpload
from tests.api.conftest import assert_error
from tests.conftest import photo_bytes

TUS = {"HTTP_TUS_RESUMABLE": "1.0.0"}


def metadata(**values: str) -> str:
    return ",".join(f"{key} {base64.b64encode(value.encode()).decode()}" for key, value in values.items())


def create(client, length: int, **meta: str):
    headers = {**TUS, "HTTP_UPLOAD_LENGTH": str(length)}
    if meta:
        headers["HTTP_UPLOAD_METADATA"] = metadata(**meta)
    return client.post("/api/v1/uploads/", **headers)


def append(client, url: str, offset: int, chunk: bytes):
    return client.patch(url, data=chunk, content_type="application/offset+octet-stream",
                        HTTP_UPLOAD_OFFSET=str(offset), **TUS)


def chunk_files() -> list[Path]:
    from django.conf import settings

    return list(Path(settings.REST_FRAMEWORK_TUS["UPLOAD_DIR"]).glob("*.part"))


@pytest.mark.django_db
def test_a_resumed_upload_makes_a_byte_identical_photo_analysed_like_any_other(
        client_for, owner, django_capture_on_commit_callbacks):
    data = photo_bytes(11, size=(1600, 1200), quality=95)
    client = client_for(owner)
    created = create(client, len(data), filename="harbour.jpg", title="Harbour", visibility="public")
    assert created.status_code == 201, created.content
    url = created["Location"]
    assert created["Tus-Resumable"] == "1.0.0"

    half = len(data) // 2
    assert append(client, url, 0, data[:half]).status_code == 204
    # The connection drops here. A new session asks where to go on from, and goes on.
    client = client_for(owner)
    head = client.head(url, **TUS)
    assert head.status_code == 200 and int(head["Upload-Offset"]) == half
    assert_error(append(client, url, 0, data[:half]), 409, "conflict")  # only from the last byte received
    with django_capture_on_commit_callbacks(execute=False) as jobs:
        done = append(client, url, half, data[half:])
    assert done.status_code == 204, done.content
    assert int(done["Upload-Offset"]) == len(data)

    photo = client.get(done["Photo-Location"]).json()
    assert (photo["title"], photo["visibility"], photo["analysis_status"]) == ("Harbour", "public", "pending")
    assert len(jobs) == 1  # its analysis is queued like any upload's
    original = client.get(photo["urls"]["original"])
    assert b"".join(original.streaming_content) == data
    assert client.get(url).json()["photo"] == photo["id"]
    assert chunk_files() == []  # the assembled file is gone


@pytest.mark.django_db
def test_the_finished_file_goes_through_the_same_checks(client_for, owner):
    client = client_for(owner)
    url = create(client, 20, filename="notes.jpg")["Location"]
    error = assert_error(append(client, url, 0, b"this is no image....."[:20]), 415, "not_an_image")
    assert error["fields"]["file"]
    assert not Image.objects.exists() and chunk_files() == []
    assert client.get(url).json()["error"]["code"] == "not_an_image"

    png = photo_bytes(12, fmt="PNG")
    url = create(client, len(png), filename="photo.jpg")["Location"]
    assert_error(append(client, url, 0, png), 415, "wrong_extension")


@pytest.mark.django_db
def test_size_is_checked_before_any_byte_is_stored(client_for, owner, settings):
    client = client_for(owner)
    settings.UPLOAD_MAX_BYTES = 1000
    assert_error(create(client, 1001), 413, "too_large")
    assert_error(create(client, 0), 400, "empty")
    assert_error(client.post("/api/v1/uploads/", **TUS), 400, "upload_length_required")
    url = create(client, 10)["Location"]
    assert_error(append(client, url, 0, b"x" * 11), 413, "too_large")  # no running past the length
    assert not ResumableUpload.objects.exclude(upload_offset=0).exists()


@pytest.mark.django_db
def test_bad_metadata_and_headers_are_400_in_the_error_shape(client_for, owner):
    client = client_for(owner)
    error = assert_error(create(client, 10, visibility="friends"), 400, "invalid")
    assert list(error["fields"]) == ["visibility"]
    assert_error(client.post("/api/v1/uploads/", HTTP_UPLOAD_LENGTH="ten", **TUS), 400, "invalid_header")
    assert_error(client.post("/api/v1/uploads/", HTTP_UPLOAD_LENGTH="10", HTTP_UPLOAD_METADATA="filename a b",
                             **TUS), 400, "invalid_header")
    assert_error(client.post("/api/v1/uploads/", HTTP_UPLOAD_LENGTH="10"), 400)  # no Tus-Resumable
    url = create(client, 10)["Location"]
    assert_error(client.patch(url, data=b"x", content_type="application/offset+octet-stream", **TUS), 400,
                 "upload_offset_required")
    assert_error(client.patch(url, data=b"x", content_type="application/octet-stream", HTTP_UPLOAD_OFFSET="0",
                              **TUS), 415, "unsupported_media_type")


@pytest.mark.django_db
def test_the_same_file_twice_is_one_photo(client_for, owner, django_capture_on_commit_callbacks):
    data = photo_bytes(13)
    client = client_for(owner)
    with django_capture_on_commit_callbacks(execute=False):
        first = append(client, create(client, len(data), filename="a.jpg")["Location"], 0, data)
        second_url = create(client, len(data), filename="a.jpg")["Location"]
        second = append(client, second_url, 0, data)
    assert first["Photo-Location"] == second["Photo-Location"]
    assert client.get(second_url).json()["image_existed"] is True
    assert Image.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["stranger", "anonymous", "staff"])
def test_an_upload_belongs_to_whoever_started_it(who, client_for, owner, stranger, staff):
    data = photo_bytes(14)
    url = create(client_for(owner), len(data), filename="a.jpg")["Location"]
    client = client_for({"stranger": stranger, "anonymous": None, "staff": staff}[who])
    expected = 401 if who == "anonymous" else 404
    assert_error(client.get(url), expected)
    assert client.head(url, **TUS).status_code == expected
    assert_error(append(client, url, 0, data), expected)
    assert_error(client.delete(url, **TUS), expected)
    assert ResumableUpload.objects.get().upload_offset == 0


@pytest.mark.django_db
def test_abandoned_and_expired_uploads_leave_no_chunks(client_for, owner):
    client = client_for(owner)
    url = create(client, 100, filename="a.jpg")["Location"]
    append(client, url, 0, b"x" * 40)
    assert len(chunk_files()) == 1
    assert client.delete(url, **TUS).status_code == 204  # tus termination
    assert chunk_files() == [] and not ResumableUpload.objects.exists()

    url = create(client, 100, filename="b.jpg")["Location"]
    append(client, url, 0, b"x" * 40)
    ResumableUpload.objects.update(expires=timezone.now() - datetime.timedelta(minutes=1))
    assert services.resumable_uploads_prune() == 1
    assert chunk_files() == [] and not ResumableUpload.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_real_tus_client_resumes_after_a_dropped_connection(live_server, owner, client_for, tmp_path):
    """tuspy, the reference Python tus client, over real HTTP, resuming in a new client."""
    from knox.models import AuthToken
    from tusclient import client as tus

    data = photo_bytes(15, size=(1200, 900), quality=95)
    path = tmp_path / "big.jpg"
    path.write_bytes(data)
    _, token = AuthToken.objects.create(user=owner)
    headers = {"Authorization": f"Token {token}"}
    endpoint = f"{live_server.url}/api/v1/uploads/"

    first = tus.TusClient(endpoint, headers=headers).uploader(str(path), chunk_size=16_384,
                                                              metadata={"filename": "big.jpg"})
    first.upload(stop_at=len(data) // 3)  # then the app is killed
    assert 0 < first.offset < len(data)

    resumed = tus.TusClient(endpoint, headers=headers).uploader(str(path), chunk_size=16_384, url=first.url)
    assert resumed.offset == first.offset  # asked the server (HEAD), did not start over
    resumed.upload()

    upload = client_for(owner).get(resumed.url).json()
    assert upload["offset"] == len(data) and upload["photo"]
    photo = client_for(owner).get(f"/api/v1/photos/{upload['photo']}/").json()
    original = client_for(owner).get(photo["urls"]["original"])
    assert b"".join(original.streaming_content) == data
    assert Image.objects.get().size_bytes == len(data)


@pytest.mark.django_db
def test_deleting_the_account_deletes_its_unfinished_chunks(client_for, owner, django_capture_on_commit_callbacks):
    from gallery.accounts.services import account_delete

    client = client_for(owner)
    url = create(client, 100, filename="a.jpg")["Location"]
    append(client, url, 0, b"x" * 40)
    assert len(chunk_files()) == 1
    with django_capture_on_commit_callbacks(execute=True):
        account_delete(user=owner)
    assert chunk_files() == [] and not ResumableUpload.objects.exists()
