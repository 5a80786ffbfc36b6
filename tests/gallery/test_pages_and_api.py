"""Pages and API: who may see what, by every path, and clear messages for bad uploads."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

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
             f"/photos/{private.id}/status.json", f"/api/v1/photos/{private.id}/",
             f"/api/v1/photos/{private.id}/similar/", f"/api/v1/photos/{private.id}/display/",
             f"/api/v1/photos/{private.id}/original/", f"/api/v1/photos/{private.id}/thumbnails/square/"]
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
