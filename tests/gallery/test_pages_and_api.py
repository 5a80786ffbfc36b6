"""Pages and API: who may see what, by every path, and clear messages for bad uploads."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from gallery.models import Image, Visibility
from tests.conftest import photo_bytes

pytestmark = pytest.mark.django_db




def test_upload_page_reports_each_bad_file_and_keeps_good_ones(client, make_user, django_capture_on_commit_callbacks):
    client.force_login(make_user())
    files = [
        SimpleUploadedFile("good.jpg", photo_bytes(1), content_type="image/jpeg"),
        SimpleUploadedFile("empty.jpg", b"", content_type="image/jpeg"),
        SimpleUploadedFile("notes.jpg", b"plain text", content_type="image/jpeg"),
    ]
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post("/upload/", {"files": files, "visibility": "private"}, follow=True)
    text = response.content.decode()
    assert "Uploaded 1 photo" in text
    assert "not an image we can read" in text
    assert Image.objects.count() == 1


def test_private_photo_is_invisible_to_others_by_every_path(client, make_user, photo):
    owner, stranger = make_user("owner"), make_user("stranger")
    private = photo(owner=owner)
    paths = [f"/photos/{private.id}/", f"/photos/{private.id}/file", f"/photos/{private.id}/overlay.png",
             f"/photos/{private.id}/status.json", f"/api/images/{private.id}/", f"/api/images/{private.id}/similar/"]
    client.force_login(stranger)
    for path in paths:
        assert client.get(path).status_code == 404, path
    client.logout()
    for path in paths:
        assert client.get(path).status_code in (401, 403, 404), path
    assert str(private.id) not in client.get("/").content.decode()
    client.force_login(owner)
    assert client.get(f"/photos/{private.id}/file").status_code == 200
    assert client.get(f"/photos/{private.id}/").status_code == 200


def test_public_photo_is_visible_to_anyone(client, photo):
    public = photo(visibility=Visibility.PUBLIC)
    assert client.get(f"/photos/{public.id}/file").status_code == 200
    assert str(public.id) in client.get("/").content.decode()
    assert "Similar photos appear once the analysis is done" in client.get(f"/photos/{public.id}/").content.decode()


def test_only_the_owner_edits_or_deletes(client, make_user, photo):
    owner, stranger = make_user(), make_user()
    image = photo(owner=owner)
    client.force_login(stranger)
    assert client.post(f"/photos/{image.id}/delete").status_code == 404
    assert client.post(f"/photos/{image.id}/edit", {"title": "x", "visibility": "public"}).status_code == 404
    client.force_login(owner)
    client.post(f"/photos/{image.id}/edit", {"title": "Dunes", "visibility": "public"})
    image.refresh_from_db()
    assert (image.title, image.visibility) == ("Dunes", "public")
    client.post(f"/photos/{image.id}/delete")
    assert not Image.objects.filter(id=image.id).exists()


def test_api_rejects_bad_upload_with_reason(make_user):
    client = APIClient()
    client.force_authenticate(make_user())
    bad = SimpleUploadedFile("x.jpg", b"\xff\xd8\xff" + b"0" * 100, content_type="image/jpeg")
    response = client.post("/api/images/", {"file": bad}, format="multipart")
    assert response.status_code == 400
    assert response.json()["code"] in ("not_an_image", "corrupt")
    assert Image.objects.count() == 0


def test_api_lists_only_own_photos(make_user, photo, django_assert_num_queries):
    me = make_user()
    for seed in range(3):
        photo(owner=me, seed=seed)
    photo(visibility=Visibility.PUBLIC, seed=9)
    client = APIClient()
    client.force_authenticate(me)
    with django_assert_num_queries(1):
        response = client.get("/api/images/")
    assert len(response.json()) == 3
    assert {item["owner"] for item in response.json()} == {me.username}
