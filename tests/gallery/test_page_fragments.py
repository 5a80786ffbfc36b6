"""Cached grids and similar-photo tiles (gallery.platform.fragments): a second view of a page
comes from the cache, and any change to a photo shown, by any path, reaches the next view; a
viewer never gets tiles cached for someone who may see more than they may."""

from __future__ import annotations

import re

import numpy as np
import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from gallery import services
from gallery.models import AnalysisStatus, Image, Visibility
from gallery.platform.fragments import fragment_keyer
from inference.versions import EMBEDDING_DIM
from tests.conftest import index_photo

pytestmark = pytest.mark.django_db


def rendered(response) -> set[str]:
    return {template.name for template in response.templates}


def grid(response) -> str:
    return re.search(r'<ul class="grid".*?</ul>', response.content.decode(), re.S).group(0)


def similar_grid(response) -> str:
    return re.search(r'<ul class="grid similar-grid".*?</ul>', response.content.decode(), re.S).group(0)


def near(base: np.ndarray, seed: int) -> np.ndarray:
    return base + 0.05 * np.random.default_rng(seed).normal(size=EMBEDDING_DIM)


def test_a_second_view_of_a_grid_comes_from_the_cache(client, make_user, photo):
    photo(owner=make_user(), visibility=Visibility.PUBLIC, title="Harbour")
    client.force_login(make_user())
    first, second = client.get("/"), client.get("/")
    assert "gallery/_tile.html" in rendered(first)
    assert "gallery/_tile.html" not in rendered(second)
    assert grid(first) == grid(second)  # (the page around it has a fresh CSRF token each time)


@pytest.mark.parametrize("change", ["title", "private", "analysis_failed_by_update", "deleted"])
def test_the_public_gallery_shows_every_change_once_cached(client, make_user, photo, change):
    owner = make_user()
    image = photo(owner=owner, visibility=Visibility.PUBLIC, title="Harbour")
    photo(owner=owner, visibility=Visibility.PUBLIC, title="Lighthouse")
    client.force_login(make_user())
    assert "Harbour" in client.get("/").content.decode()  # now cached

    if change == "title":
        services.image_update(image=image, title="Dunes")
    elif change == "private":
        services.image_update(image=image, visibility=Visibility.PRIVATE)
    elif change == "analysis_failed_by_update":  # the worker writes with update(), no save() or signal
        Image.objects.filter(pk=image.pk).update(analysis_status=AnalysisStatus.FAILED, analysis_error="Broken file")
    else:
        services.image_delete(image=image)

    page = client.get("/").content.decode()
    assert "Lighthouse" in page
    if change == "title":
        assert "Dunes" in page and "Harbour" not in page
    elif change == "analysis_failed_by_update":
        assert "badge-failed" in page and "Broken file" in page
    else:
        assert "Harbour" not in page and str(image.id) not in page


def test_an_owners_name_change_reaches_the_cached_tiles(client, make_user, photo):
    owner = make_user("marta")
    photo(owner=owner, visibility=Visibility.PUBLIC)
    assert "marta" in client.get("/").content.decode()
    owner.username = "marta_b"
    owner.save()
    assert "marta_b" in client.get("/").content.decode()


def test_similar_tiles_cached_for_the_owner_never_reach_another_viewer(client, make_user, photo):
    owner, stranger = make_user(), make_user()
    base = np.ones(EMBEDDING_DIM)
    shown = index_photo(photo(owner=owner, visibility=Visibility.PUBLIC, title="Shown"), base)
    index_photo(photo(owner=owner, visibility=Visibility.PUBLIC, title="Public twin"), near(base, 1))
    secret = index_photo(photo(owner=owner, visibility=Visibility.PRIVATE, title="Secret twin"), near(base, 2))

    for url in (f"/photos/{shown.id}/", f"/photos/{shown.id}/similar?offset=0"):
        client.force_login(owner)
        assert "Secret twin" in client.get(url).content.decode()  # cached with the private photo
        client.force_login(stranger)
        page = client.get(url).content.decode()
        assert "Public twin" in page
        assert "Secret twin" not in page and str(secret.id) not in page


def test_similar_tiles_follow_a_photo_made_private_after_they_were_cached(client, make_user, photo):
    owner, viewer = make_user(), make_user()
    base = np.ones(EMBEDDING_DIM)
    shown = index_photo(photo(owner=owner, visibility=Visibility.PUBLIC, title="Shown"), base)
    twin = index_photo(photo(owner=owner, visibility=Visibility.PUBLIC, title="Twin"), near(base, 1))
    index_photo(photo(owner=owner, visibility=Visibility.PUBLIC, title="Cousin"), near(base, 2))
    client.force_login(viewer)
    first = client.get(f"/photos/{shown.id}/")
    assert "Twin" in first.content.decode()
    assert "search/_similar_tiles.html" in rendered(first)

    services.image_update(image=twin, visibility=Visibility.PRIVATE)
    page = client.get(f"/photos/{shown.id}/").content.decode()
    assert "Cousin" in page
    assert "Twin" not in page and str(twin.id) not in page


def test_album_tiles_carry_the_viewers_csrf_token_and_are_never_cached(client, make_user, photo):
    owner = make_user()
    album = services.album_create(owner=owner, title="Trip")
    services.album_images_add(album=album, images=[photo(owner=owner)])
    client.force_login(owner)
    client.get(f"/albums/{album.id}/")
    again = client.get(f"/albums/{album.id}/")
    assert "gallery/_tile.html" in rendered(again)
    assert "Remove from album" in again.content.decode()


def test_a_route_only_deploy_reaches_the_cached_tiles(client, make_user, photo, settings):
    """Tiles are keyed by the routes their links are reversed from: moving the pages (a deploy
    that changes no template and no row) must not serve ten more minutes of dead links."""
    image = photo(owner=make_user(), visibility=Visibility.PUBLIC, title="Harbour")
    client.force_login(make_user())
    assert f'href="/photos/{image.id}/"' in grid(client.get("/"))  # now cached

    settings.ROOT_URLCONF = "tests.gallery.moved_urls"
    moved = grid(client.get("/pictures/"))
    assert f'href="/pictures/photos/{image.id}/"' in moved
    assert f'src="/pictures/photos/{image.id}/thumbnail/' in moved and f'"/photos/{image.id}/' not in moved


def test_similar_tiles_follow_a_route_only_deploy(client, make_user, photo, settings):
    owner = make_user()
    base = np.ones(EMBEDDING_DIM)
    shown = index_photo(photo(owner=owner, visibility=Visibility.PUBLIC, title="Shown"), base)
    twin = index_photo(photo(owner=owner, visibility=Visibility.PUBLIC, title="Twin"), near(base, 1))
    client.force_login(make_user())
    more = f"/photos/{shown.id}/similar?offset=0"  # search's route: it does not move
    assert f'href="/photos/{twin.id}/"' in client.get(more).content.decode()  # now cached

    settings.ROOT_URLCONF = "tests.gallery.moved_urls"
    tiles = client.get(more).content.decode()
    assert f'href="/pictures/photos/{twin.id}/"' in tiles and f'"/photos/{twin.id}/' not in tiles


def test_grids_load_only_what_their_tiles_draw(client, make_user, photo):
    """A page of 48 tiles loads the columns a tile shows, not whole photo and account rows (the
    owner's password hash included): most of the grid's CPU was turning those into objects."""
    owner = make_user()
    for title in ("Harbour", "Lighthouse"):
        photo(owner=owner, visibility=Visibility.PUBLIC, title=title)
    client.force_login(owner)
    for url in ("/", "/mine/"):
        with CaptureQueriesContext(connection) as captured:
            page = client.get(url).content.decode()
        assert "Harbour" in page and "Lighthouse" in page
        tiles_query = next(q["sql"] for q in captured if 'FROM "gallery_image"' in q["sql"]
                           and "ORDER BY" in q["sql"])
        assert '"gallery_image"."title"' in tiles_query and '"auth_user"."username"' in tiles_query
        for column in ('"gallery_image"."sha256"', '"gallery_image"."file"', '"auth_user"."password"',
                       '"auth_user"."email"'):
            assert column not in tiles_query, (url, column)


def test_a_new_photo_renders_its_own_tile_only(client, make_user, photo):
    """Tiles are cached one by one: while an import adds photos (and moves each through pending,
    running, done), a view of the gallery renders the tiles that changed, not the whole page."""
    owner = make_user()
    for title in ("Harbour", "Lighthouse", "Dunes"):
        photo(owner=owner, visibility=Visibility.PUBLIC, title=title)
    client.force_login(make_user())
    first = client.get("/")
    assert [t.name for t in first.templates].count("gallery/_tile.html") == 3

    newest = photo(owner=owner, visibility=Visibility.PUBLIC, title="Pier")
    second = client.get("/")
    assert [t.name for t in second.templates].count("gallery/_tile.html") == 1
    assert grid(second).count('class="tile"') == 4 and "Pier" in grid(second)
    Image.objects.filter(pk=newest.pk).update(analysis_status=AnalysisStatus.FAILED, analysis_error="Broken")
    third = client.get("/")
    assert [t.name for t in third.templates].count("gallery/_tile.html") == 1
    assert "badge-failed" in grid(third)
    cache.clear()  # the same grid rendered whole, from no cache at all
    fresh = client.get("/")
    assert [t.name for t in fresh.templates].count("gallery/_tile.html") == 4
    assert grid(fresh) == grid(third)

def test_a_new_similar_photo_renders_its_own_tile_only(client, make_user, photo):
    owner = make_user()
    base = np.ones(EMBEDDING_DIM)
    shown = index_photo(photo(owner=owner, visibility=Visibility.PUBLIC, title="Shown"), base)
    for seed in (1, 2, 3):
        index_photo(photo(owner=owner, visibility=Visibility.PUBLIC, title=f"Twin {seed}"), near(base, seed))
    client.force_login(make_user())
    first = client.get(f"/photos/{shown.id}/")
    assert [t.name for t in first.templates].count("search/_similar_tile.html") == 3
    index_photo(photo(owner=owner, visibility=Visibility.PUBLIC, title="Twin 4"), near(base, 4))
    second = client.get(f"/photos/{shown.id}/")
    assert [t.name for t in second.templates].count("search/_similar_tile.html") == 1
    assert all(f"Twin {seed}" in second.content.decode() for seed in (1, 2, 3, 4))
    cache.clear()
    fresh = client.get(f"/photos/{shown.id}/")
    assert [t.name for t in fresh.templates].count("search/_similar_tile.html") == 4
    assert similar_grid(fresh) == similar_grid(second)


def test_a_tile_key_reads_a_file_column_by_its_name(make_user, photo):
    """Whether or not a template has touched the thumbnail yet (Django then keeps a FieldFile in
    its place), the key is the same; a new thumbnail is a new key."""
    image = Image.objects.get(pk=photo(owner=make_user(), visibility=Visibility.PUBLIC).pk)
    keyer = fragment_keyer(("gallery/_tile.html",))
    untouched = keyer([image])
    assert image.thumbnail_square.name  # now a FieldFile in the instance's __dict__
    assert keyer([image]) == untouched
    image.thumbnail_square = "thumbnails/other.jpg"
    assert keyer([image]) != untouched
