"""/api/v1/photos/ and /api/v1/public/photos/ for the owner, another user, an anonymous client and staff."""

from __future__ import annotations

import datetime

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from gallery.models import AnalysisStatus, Image, Visibility
from inference.configuration import configured_model_version
from inference.models import ImageAnalysis
from tests.api.conftest import assert_error
from tests.conftest import photo_bytes

pytestmark = pytest.mark.django_db


def upload(client, data: bytes, name: str = "beach.jpg", **fields):
    return client.post("/api/v1/photos/", {"file": SimpleUploadedFile(name, data), **fields}, format="multipart")


def test_upload_creates_a_photo_and_a_retry_returns_the_same_one(client_for, owner, django_capture_on_commit_callbacks):
    client = client_for(owner)
    data = photo_bytes(1)
    with django_capture_on_commit_callbacks(execute=False) as jobs:
        first = upload(client, data, title="Beach", visibility="public")
    assert first.status_code == 201, first.content
    assert len(jobs) == 1  # analysis queued once committed, like every upload
    photo = first.json()
    assert photo["title"] == "Beach" and photo["visibility"] == "public" and photo["owner"] == "owner"
    assert photo["analysis_status"] == "pending" and photo["analysis"]["status"] == "pending"
    assert first["Location"].endswith(f"/api/v1/photos/{photo['id']}/")

    # The connection dropped before the client read the answer: it sends the same bytes again.
    with django_capture_on_commit_callbacks(execute=False) as jobs:
        retry = upload(client, data, title="Another title")
    assert retry.status_code == 200
    assert retry.json()["id"] == photo["id"] and retry.json()["title"] == "Beach"
    assert not jobs
    assert Image.objects.filter(owner=owner).count() == 1


def test_the_same_bytes_from_two_owners_are_two_photos(client_for, owner, stranger, django_capture_on_commit_callbacks):
    data = photo_bytes(2)
    with django_capture_on_commit_callbacks(execute=False):
        assert upload(client_for(owner), data).status_code == 201
        assert upload(client_for(stranger), data).status_code == 201


@pytest.mark.parametrize(("data", "name", "status", "code"), [
    (b"just some text", "notes.jpg", 415, "not_an_image"),
    (photo_bytes(3, fmt="PNG"), "photo.jpg", 415, "wrong_extension"),
    (photo_bytes(3)[: len(photo_bytes(3)) // 2], "cut.jpg", 400, "corrupt"),
    (b"", "empty.jpg", 400, "invalid"),  # DRF refuses an empty file before the service sees it
])
def test_bad_uploads_get_their_status_and_leave_nothing(client_for, owner, data, name, status, code):
    error = assert_error(upload(client_for(owner), data, name), status, code)
    assert error["fields"]["file"]
    assert not Image.objects.exists()


def test_oversized_upload_is_413(client_for, owner, settings):
    settings.UPLOAD_MAX_BYTES = 10_000
    error = assert_error(upload(client_for(owner), photo_bytes(4, size=(800, 600), quality=95)), 413, "too_large")
    assert "limit" in error["message"]


def test_too_many_pixels_is_413_too(client_for, owner, settings):
    settings.UPLOAD_MAX_PIXELS = 10_000  # the photo is 320 x 240
    assert_error(upload(client_for(owner), photo_bytes(4)), 413, "too_many_pixels")
    assert not Image.objects.exists()


def test_upload_without_file_names_the_field(client_for, owner):
    error = assert_error(client_for(owner).post("/api/v1/photos/", {"title": "x"}, format="multipart"), 400, "invalid")
    assert list(error["fields"]) == ["file"]


def test_anonymous_cannot_upload_or_list(client_for):
    client = client_for(None)
    response = assert_error(client.get("/api/v1/photos/"), 401, "not_authenticated")
    assert response
    assert client.get("/api/v1/photos/")["WWW-Authenticate"] == "Token"
    assert_error(upload(client, photo_bytes(5)), 401)


def test_list_holds_only_my_photos_newest_first_in_cursor_pages(client_for, owner, stranger, make_photo):
    mine = [make_photo(owner) for _ in range(5)]
    make_photo(stranger, visibility=Visibility.PUBLIC)
    client = client_for(owner)
    seen, url = [], "/api/v1/photos/?page_size=2"
    while url:
        page = client.get(url).json()
        assert len(page["results"]) <= 2
        seen += [photo["id"] for photo in page["results"]]
        url = page["next"]
    assert seen == [str(photo.id) for photo in sorted(mine, key=lambda p: (p.created, p.id), reverse=True)]


def test_list_filters(client_for, owner, make_photo):
    from gallery import services

    public = make_photo(owner, visibility=Visibility.PUBLIC)
    done = make_photo(owner)
    Image.objects.filter(id=done.id).update(analysis_status=AnalysisStatus.DONE,
                                            taken_at=datetime.datetime(2020, 5, 1, tzinfo=datetime.UTC))
    in_album = make_photo(owner)
    album = services.album_create(owner=owner, title="Trip")
    services.album_images_add(album=album, images=[in_album])
    client = client_for(owner)

    def ids(query: str) -> set[str]:
        response = client.get(f"/api/v1/photos/?{query}")
        assert response.status_code == 200, response.content
        return {photo["id"] for photo in response.json()["results"]}

    assert ids("visibility=public") == {str(public.id)}
    assert ids("status=done") == {str(done.id)}
    assert ids(f"album={album.id}") == {str(in_album.id)}
    assert ids("taken_after=2020-01-01T00:00:00Z&taken_before=2020-12-31T00:00:00Z") == {str(done.id)}
    assert ids("uploaded_after=2100-01-01T00:00:00Z") == set()
    assert_error(client.get("/api/v1/photos/?status=sideways"), 400, "invalid")


def test_an_album_of_someone_else_filters_to_nothing(client_for, owner, stranger, make_photo):
    from gallery import services

    theirs = services.album_create(owner=stranger, title="Theirs")
    services.album_images_add(album=theirs, images=[make_photo(stranger)])
    make_photo(owner)
    assert client_for(owner).get(f"/api/v1/photos/?album={theirs.id}").json()["results"] == []


def _analysed(image: Image) -> ImageAnalysis:
    Image.objects.filter(id=image.id).update(analysis_status=AnalysisStatus.DONE)
    return ImageAnalysis.objects.create(image=image, model_version=configured_model_version(),
                                        status=AnalysisStatus.DONE,
                                        crop_left=10, crop_top=20, crop_right=200, crop_bottom=180,
                                        overlay="analysis/overlay.png", saliency_map="analysis/map.png")


def test_read_one_has_status_size_urls_crop_box_and_model_version(client_for, owner, make_photo):
    image = make_photo(owner, title="Dunes")
    _analysed(image)
    photo = client_for(owner).get(f"/api/v1/photos/{image.id}/").json()
    assert (photo["width"], photo["height"], photo["size_bytes"]) == (image.width, image.height, image.size_bytes)
    assert photo["analysis"] == {"status": "done", "error": "", "model_version": configured_model_version(),
                                 "crop_box": {"left": 10, "top": 20, "right": 200, "bottom": 180}}
    urls = photo["urls"]
    base = f"http://testserver/api/v1/photos/{image.id}"
    assert urls["original"] == f"{base}/original/"
    assert urls["overlay"] == f"{base}/overlay/"
    assert urls["display"].startswith(f"{base}/display/?v=")
    assert urls["thumbnail_square"].startswith(f"{base}/thumbnails/square/?v=")
    assert urls["thumbnail_wide"].startswith(f"{base}/thumbnails/wide/?v=")
    assert urls["page"] == f"http://testserver/photos/{image.id}/"


def test_the_original_url_serves_the_exact_uploaded_bytes_to_the_owner_only(client_for, owner, stranger, make_photo):
    image = make_photo(owner, visibility=Visibility.PUBLIC, seed=77)
    url = client_for(owner).get(f"/api/v1/photos/{image.id}/").json()["urls"]["original"]
    response = client_for(owner).get(url)
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
    assert b"".join(response.streaming_content) == photo_bytes(77)
    assert client_for(stranger).get(f"/api/v1/photos/{image.id}/").json()["urls"]["original"] is None
    assert_error(client_for(stranger).get(url), 404)
    assert_error(client_for(None).get(url), 401)


def test_file_urls_open_with_a_token_and_follow_visibility(client_for, owner, stranger, make_photo):
    private = make_photo(owner)
    _analysed(private)
    ImageAnalysis.objects.filter(image=private).update(overlay="", saliency_map="")  # no heat map in this test
    urls = client_for(owner).get(f"/api/v1/photos/{private.id}/").json()["urls"]
    for name in ("display", "thumbnail_square", "thumbnail_wide"):
        response = client_for(owner).get(urls[name], HTTP_ACCEPT="image/jpeg")
        assert response.status_code == 200 and response["Content-Type"] == "image/jpeg", name
        assert b"".join(response.streaming_content)[:3] == b"\xff\xd8\xff"
        # Errors stay JSON even for a client that asked for an image.
        assert_error(client_for(stranger).get(urls[name], HTTP_ACCEPT="image/jpeg"), 404)
    assert_error(client_for(owner).get(f"/api/v1/photos/{private.id}/overlay/"), 404)
    assert_error(client_for(owner).get(f"/api/v1/photos/{private.id}/thumbnails/huge/"), 404)


@pytest.mark.parametrize("who", ["stranger", "anonymous", "staff"])
def test_a_private_photo_is_404_to_everyone_but_its_owner(who, client_for, owner, stranger, staff, make_photo):
    image = make_photo(owner)
    client = client_for({"stranger": stranger, "anonymous": None, "staff": staff}[who])
    assert_error(client.get(f"/api/v1/photos/{image.id}/"), 404, "not_found")
    assert_error(client.get(f"/api/v1/photos/{image.id}/similar/"), 404, "not_found")
    expected = 401 if who == "anonymous" else 404
    assert_error(client.patch(f"/api/v1/photos/{image.id}/", {"title": "x"}, format="json"), expected)
    assert_error(client.delete(f"/api/v1/photos/{image.id}/"), expected)
    assert Image.objects.get(id=image.id).title != "x"


@pytest.mark.parametrize("who", ["stranger", "anonymous", "staff"])
def test_a_public_photo_is_readable_by_all_and_changed_by_its_owner_only(who, client_for, owner, stranger, staff,
                                                                         make_photo):
    image = make_photo(owner, visibility=Visibility.PUBLIC)
    client = client_for({"stranger": stranger, "anonymous": None, "staff": staff}[who])
    photo = client.get(f"/api/v1/photos/{image.id}/")
    assert photo.status_code == 200 and photo.json()["urls"]["original"] is None
    expected = 401 if who == "anonymous" else 403
    assert_error(client.patch(f"/api/v1/photos/{image.id}/", {"visibility": "private"}, format="json"), expected)
    assert_error(client.delete(f"/api/v1/photos/{image.id}/"), expected)
    assert Image.objects.get(id=image.id).visibility == Visibility.PUBLIC


def test_owner_updates_title_and_visibility_and_deletes(client_for, owner, make_photo):
    image = make_photo(owner)
    client = client_for(owner)
    response = client.patch(f"/api/v1/photos/{image.id}/", {"title": "Harbour", "visibility": "public"}, format="json")
    assert response.status_code == 200
    assert (response.json()["title"], response.json()["visibility"]) == ("Harbour", "public")
    error = assert_error(client.patch(f"/api/v1/photos/{image.id}/", {"visibility": "friends"}, format="json"), 400)
    assert list(error["fields"]) == ["visibility"]
    assert client.delete(f"/api/v1/photos/{image.id}/").status_code == 204
    assert not Image.objects.filter(id=image.id).exists()
    assert_error(client.get(f"/api/v1/photos/{image.id}/"), 404)


def test_public_list_shows_everyones_public_photos_to_anyone(client_for, owner, stranger, make_photo):
    public = [make_photo(owner, visibility=Visibility.PUBLIC), make_photo(stranger, visibility=Visibility.PUBLIC)]
    make_photo(owner)
    for user in (None, stranger):
        response = client_for(user).get("/api/v1/public/photos/")
        assert response.status_code == 200
        assert {p["id"] for p in response.json()["results"]} == {str(p.id) for p in public}


@pytest.mark.parametrize("url", ["/api/v1/photos/", "/api/v1/public/photos/"])
def test_list_query_count_does_not_depend_on_page_size(url, client_for, owner, make_photo,
                                                       django_assert_num_queries):
    for _ in range(6):
        _analysed(make_photo(owner, visibility=Visibility.PUBLIC))
    client = client_for(owner)
    # knox: the token with its user, and the user's other tokens (it drops expired ones); then the
    # page of photos with their owners, and the analyses of the whole page. Nothing per photo.
    for page_size in (2, 6):
        with django_assert_num_queries(4) as captured:
            response = client.get(f"{url}?page_size={page_size}")
        assert len(response.json()["results"]) == page_size, captured
