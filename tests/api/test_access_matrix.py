"""Every endpoint, for each kind of caller: the owner, another user, an anonymous client, staff.

The detailed behaviour is in the other files; this table makes sure no endpoint was forgotten
and that nothing private leaks by any path: others get 404 (never 403) for what they may not see.
"""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import get_resolver

from gallery import services
from gallery.models import AnalysisStatus, Visibility
from inference.configuration import configured_model_version
from inference.models import ImageAnalysis
from tests.conftest import photo_bytes

pytestmark = pytest.mark.django_db

ROLES = ("owner", "stranger", "anonymous", "staff")


@pytest.fixture
def world(owner, make_photo, client_for, django_capture_on_commit_callbacks, tmp_path):
    private = make_photo(owner)
    public = make_photo(owner, visibility=Visibility.PUBLIC)
    for image in (private, public):
        ImageAnalysis.objects.create(image=image, model_version=configured_model_version(), status=AnalysisStatus.DONE)
    album = services.album_create(owner=owner, title="Trip")
    services.album_images_add(album=album, images=[private])
    with django_capture_on_commit_callbacks(execute=False):
        search = client_for(owner).post("/api/v1/searches/", {"file": SimpleUploadedFile("q.jpg", photo_bytes(3))},
                                        format="multipart").json()
    upload = client_for(owner).post("/api/v1/uploads/", HTTP_TUS_RESUMABLE="1.0.0", HTTP_UPLOAD_LENGTH="100")
    token_id = client_for(owner).get("/api/v1/auth/tokens/").json()[0]["id"]
    return {"private": private.id, "public": public.id, "album": album.id, "search": search["id"],
            "upload": upload["Location"].rstrip("/").rsplit("/", 1)[1], "token": token_id}


# (method, path, expected status for owner, stranger, anonymous, staff). Reads only: the changes
# are covered per endpoint in the other files, with the same rules.
TABLE = [
    ("get", "/api/v1/photos/", 200, 200, 401, 200),
    ("get", "/api/v1/photos/{private}/", 200, 404, 404, 404),
    ("get", "/api/v1/photos/{public}/", 200, 200, 200, 200),
    ("get", "/api/v1/photos/{private}/original/", 200, 404, 401, 404),
    ("get", "/api/v1/photos/{public}/original/", 200, 404, 401, 404),
    ("get", "/api/v1/photos/{private}/display/", 200, 404, 404, 404),
    ("get", "/api/v1/photos/{public}/display/", 200, 200, 200, 200),
    ("get", "/api/v1/photos/{private}/thumbnails/square/", 200, 404, 404, 404),
    ("get", "/api/v1/photos/{public}/thumbnails/wide/", 200, 200, 200, 200),
    ("get", "/api/v1/photos/{private}/overlay/", 404, 404, 404, 404),  # no overlay file: 404 for all
    ("get", "/api/v1/photos/{private}/similar/", 200, 404, 404, 404),
    ("get", "/api/v1/photos/{public}/similar/", 200, 200, 200, 200),
    ("get", "/api/v1/public/photos/", 200, 200, 200, 200),
    ("get", "/api/v1/albums/", 200, 200, 401, 200),
    ("get", "/api/v1/albums/{album}/", 200, 404, 401, 404),
    ("get", "/api/v1/searches/{search}/", 200, 404, 401, 404),
    ("get", "/api/v1/uploads/{upload}/", 200, 404, 401, 404),
    ("get", "/api/v1/auth/tokens/", 200, 200, 401, 200),
    # Only the owner may retry; these photos are analysed, so the owner is told 409 (not_retryable).
    ("post", "/api/v1/photos/{private}/retry/", 409, 404, 401, 404),
    ("post", "/api/v1/photos/{public}/retry/", 409, 404, 401, 404),
    ("delete", "/api/v1/auth/tokens/{token}/", 204, 404, 401, 404),
    ("delete", "/api/v1/albums/{album}/photos/{private}/", 204, 404, 401, 404),
    ("delete", "/api/v1/albums/{album}/", 204, 404, 401, 404),
    ("delete", "/api/v1/photos/{private}/", 204, 404, 401, 404),
    ("delete", "/api/v1/photos/{public}/", 204, 403, 401, 403),
    ("delete", "/api/v1/uploads/{upload}/", 204, 404, 401, 404),
]


@pytest.mark.parametrize("role", ROLES)
def test_each_endpoint_for_each_caller(role, world, client_for, owner, stranger, staff):
    user = {"owner": owner, "stranger": stranger, "anonymous": None, "staff": staff}[role]
    for method, template, *expected in TABLE:
        client = client_for(user)  # a fresh token per request: deleting tokens must not sign us out
        path = template.format(**world)
        response = getattr(client, method)(path, HTTP_TUS_RESUMABLE="1.0.0")
        want = expected[ROLES.index(role)]
        assert response.status_code == want, (role, method, template, response.status_code)
        if want >= 400:
            assert set(response.json()) == {"error"}, (role, template)


def test_the_table_names_every_api_route():
    """A new endpoint must be added to the table above (and so be tested for all four callers)."""
    api_patterns = next(p for p in get_resolver().url_patterns if getattr(p, "namespace", "") == "api")
    routes = {str(p.pattern) for p in api_patterns.url_patterns}
    tested = {template.removeprefix("/api/v1/") for _, template, *_ in TABLE}
    # Creating things (POST/PATCH) is covered per endpoint in the other files, for all four callers.
    created_only = {"auth/token/", "albums/<uuid:album_id>/photos/", "uploads/", "searches/"}
    placeholders = {"<uuid:photo_id>": "{private}", "<uuid:album_id>": "{album}", "<uuid:search_id>": "{search}",
                    "<uuid:guid>": "{upload}", "<str:token_id>": "{token}", "<str:name>": "square"}
    tested = {template.removeprefix("/api/v1/").replace("{public}", "{private}").replace("wide", "square")
              for _, template, *_ in TABLE}
    for route in routes - created_only:
        for pattern, value in placeholders.items():
            route = route.replace(pattern, value)
        assert route in tested, route
