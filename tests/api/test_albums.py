"""/api/v1/albums/: private to their owner, for the owner, another user, an anonymous client and staff."""

from __future__ import annotations

import pytest

from gallery.models import Album, AlbumImage, Image
from tests.api.conftest import assert_error

pytestmark = pytest.mark.django_db


def test_owner_creates_renames_fills_empties_and_deletes_an_album(client_for, owner, make_photo):
    client = client_for(owner)
    photos = [make_photo(owner) for _ in range(3)]
    created = client.post("/api/v1/albums/", {"title": "Summer"}, format="json")
    assert created.status_code == 201
    album = created.json()
    assert (album["title"], album["photo_count"]) == ("Summer", 0)
    url = f"/api/v1/albums/{album['id']}/"

    added = client.post(f"{url}photos/", {"photos": [str(p.id) for p in photos[:2]]}, format="json")
    assert added.json() == {"added": 2}
    again = client.post(f"{url}photos/", {"photos": [str(p.id) for p in photos]}, format="json")
    assert again.json() == {"added": 1}  # adding is idempotent: only the new one counts
    assert client.get(url).json()["photo_count"] == 3
    listed = client.get(client.get(url).json()["photos_url"]).json()["results"]
    assert {p["id"] for p in listed} == {str(p.id) for p in photos}

    assert client.delete(f"{url}photos/{photos[0].id}/").status_code == 204
    assert_error(client.delete(f"{url}photos/{photos[0].id}/"), 404)  # not in it any more
    assert client.patch(url, {"title": "Summer 2026"}, format="json").json()["title"] == "Summer 2026"
    assert [a["title"] for a in client.get("/api/v1/albums/").json()] == ["Summer 2026"]
    assert client.delete(url).status_code == 204
    assert not Album.objects.exists() and Image.objects.count() == 3  # the photos stay


def test_album_names_are_unique_per_owner(client_for, owner, stranger):
    client = client_for(owner)
    client.post("/api/v1/albums/", {"title": "Cats"}, format="json")
    assert_error(client.post("/api/v1/albums/", {"title": "cats"}, format="json"), 409, "duplicate")
    assert_error(client.post("/api/v1/albums/", {"title": ""}, format="json"), 400, "invalid")
    assert client_for(stranger).post("/api/v1/albums/", {"title": "Cats"}, format="json").status_code == 201


def test_only_own_photos_go_into_an_album(client_for, owner, stranger, make_photo):
    from gallery.models import Visibility

    album = client_for(owner).post("/api/v1/albums/", {"title": "Mine"}, format="json").json()
    theirs = make_photo(stranger, visibility=Visibility.PUBLIC)
    error = assert_error(client_for(owner).post(f"/api/v1/albums/{album['id']}/photos/",
                                                {"photos": [str(theirs.id)]}, format="json"), 400, "unknown_photos")
    assert str(theirs.id) in error["fields"]["photos"][0]
    assert not AlbumImage.objects.exists()


@pytest.mark.parametrize("who", ["stranger", "anonymous", "staff"])
def test_someone_elses_album_does_not_exist_for_them(who, client_for, owner, stranger, staff, make_photo):
    photo = make_photo(owner)
    owner_client = client_for(owner)
    album = owner_client.post("/api/v1/albums/", {"title": "Private"}, format="json").json()
    owner_client.post(f"/api/v1/albums/{album['id']}/photos/", {"photos": [str(photo.id)]}, format="json")
    client = client_for({"stranger": stranger, "anonymous": None, "staff": staff}[who])
    url = f"/api/v1/albums/{album['id']}/"
    expected = 401 if who == "anonymous" else 404
    assert_error(client.get(url), expected)
    assert_error(client.patch(url, {"title": "Mine now"}, format="json"), expected)
    assert_error(client.delete(url), expected)
    assert_error(client.post(f"{url}photos/", {"photos": [str(photo.id)]}, format="json"), expected)
    assert_error(client.delete(f"{url}photos/{photo.id}/"), expected)
    if who != "anonymous":
        assert client.get("/api/v1/albums/").json() == []
    else:
        assert_error(client.get("/api/v1/albums/"), 401)
    assert Album.objects.get().title == "Private" and AlbumImage.objects.count() == 1


def test_album_list_query_count_is_fixed(client_for, owner, make_photo, django_assert_num_queries):
    from gallery import services

    client = client_for(owner)
    for count in (1, 4):
        album = services.album_create(owner=owner, title=f"Album {count}")
        services.album_images_add(album=album, images=[make_photo(owner) for _ in range(count)])
        with django_assert_num_queries(4):  # knox (2), albums with counts and cover ids, the covers
            assert len(client.get("/api/v1/albums/").json()) == (1 if count == 1 else 2)
