"""The gallery pages without a browser: albums, filters, paging, live status, duplicates,
similar results with "Show more", who sees what, and a fixed number of SQL queries per list page."""

from __future__ import annotations

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext

from gallery import services
from gallery.models import AlbumImage, AnalysisStatus, Image, Visibility
from inference.versions import EMBEDDING_DIM
from tests.conftest import index_photo, photo_bytes

pytestmark = pytest.mark.django_db




def queries_for(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(captured)


def test_list_pages_run_the_same_number_of_queries_for_3_or_30_photos(client, make_user, photo):
    owner = make_user()
    client.force_login(owner)
    album = services.album_create(owner=owner, title="Trip")

    def fill(count):
        for _ in range(count):
            image = photo(owner=owner, visibility=Visibility.PUBLIC)
            services.album_images_add(album=album, images=[image])

    fill(3)
    urls = ["/mine/", "/", "/albums/", f"/albums/{album.id}/", f"/mine/?album={album.id}&status=pending"]
    few = {url: queries_for(client, url) for url in urls}
    fill(27)
    many = {url: queries_for(client, url) for url in urls}
    assert few == many
    assert max(many.values()) <= 8, many


def test_grid_pages_use_thumbnails_never_full_size_photos(client, make_user, photo):
    owner = make_user()
    client.force_login(owner)
    image = photo(owner=owner, visibility=Visibility.PUBLIC)
    for url in ["/mine/", "/"]:
        html = client.get(url).content.decode()
        assert f"/photos/{image.id}/thumbnail/square.jpg?v=" in html
        assert f"/photos/{image.id}/file" not in html and "/original" not in html


def test_my_photos_filters_by_album_visibility_and_status(client, make_user, photo):
    owner = make_user()
    client.force_login(owner)
    photo(owner=owner, visibility=Visibility.PUBLIC, title="pub")
    private, failed = photo(owner=owner, title="priv"), photo(owner=owner, title="bad")
    Image.objects.filter(pk=failed.pk).update(analysis_status=AnalysisStatus.FAILED, analysis_error="decoder broke")
    album = services.album_create(owner=owner, title="Best")
    services.album_images_add(album=album, images=[private])

    def titles(query):
        page = client.get(f"/mine/?{query}").context["page"]
        return sorted(image.title for image in page.object_list)

    assert titles("visibility=public") == ["pub"]
    assert titles(f"album={album.id}") == ["priv"]
    assert titles("status=failed") == ["bad"]
    assert titles("status=nonsense&album=not-a-uuid") == ["bad", "priv", "pub"]  # bad filters are ignored
    assert "decoder broke" in client.get("/mine/?status=failed").content.decode()


def test_pages_are_paged(client, make_user, photo, settings):
    from gallery import views

    owner = make_user()
    client.force_login(owner)
    for _ in range(views.PAGE_SIZE + 2):
        photo(owner=owner)
    first = client.get("/mine/").context["page"]
    second = client.get("/mine/?page=2").context["page"]
    assert len(first.object_list) == views.PAGE_SIZE and len(second.object_list) == 2
    assert not {i.id for i in first.object_list} & {i.id for i in second.object_list}


def test_script_upload_answers_json_and_a_duplicate_links_to_the_photo(client, make_user,
                                                                        django_capture_on_commit_callbacks):
    client.force_login(make_user())
    data = photo_bytes(5)
    with django_capture_on_commit_callbacks(execute=False):
        first = client.post("/upload/", {"file": SimpleUploadedFile("a.jpg", data, "image/jpeg")},
                            HTTP_ACCEPT="application/json")
        again = client.post("/upload/", {"file": SimpleUploadedFile("b.jpg", data, "image/jpeg")},
                            HTTP_ACCEPT="application/json")
        bad = client.post("/upload/", {"file": SimpleUploadedFile("c.jpg", b"text", "image/jpeg")},
                          HTTP_ACCEPT="application/json")
    assert first.status_code == 201 and first.json()["photo"]["status"] == "pending"
    assert again.status_code == 200 and again.json()["code"] == "duplicate"
    assert again.json()["photo"]["url"] == first.json()["photo"]["url"]
    assert bad.status_code == 400 and bad.json()["code"] == "not_an_image"
    assert Image.objects.count() == 1


def test_form_upload_of_a_duplicate_says_so_with_a_link(client, make_user, photo):
    owner = make_user()
    client.force_login(owner)
    existing = photo(owner=owner, title="sunset")
    data = existing.file.open("rb").read()
    response = client.post("/upload/", {"files": [SimpleUploadedFile("again.jpg", data, "image/jpeg")],
                                        "visibility": "private"}, follow=True)
    html = response.content.decode()
    assert "already in your gallery" in html and f'href="/photos/{existing.id}/"' in html
    assert Image.objects.filter(owner=owner).count() == 1


def test_live_status_lists_only_photos_the_viewer_may_see(client, make_user, photo):
    alice, bob = make_user(), make_user()
    mine, theirs_private, theirs_public = photo(owner=alice), photo(owner=bob), photo(owner=bob, visibility="public")
    Image.objects.filter(pk=mine.pk).update(analysis_status=AnalysisStatus.FAILED, analysis_error="no pixels")
    client.force_login(alice)
    ids = ",".join(str(i.id) for i in (mine, theirs_private, theirs_public)) + ",junk"
    states = {p["id"]: p for p in client.get(f"/photos/status.json?ids={ids}").json()["photos"]}
    assert set(states) == {str(mine.id), str(theirs_public.id)}
    assert states[str(mine.id)]["status"] == "failed" and states[str(mine.id)]["error"] == "no pixels"


def test_albums_create_rename_add_remove_delete(client, make_user, photo):
    owner = make_user()
    client.force_login(owner)
    image = photo(owner=owner)
    response = client.post("/albums/", {"title": "Holiday"}, follow=True)
    album = response.context["album"]
    assert client.post("/albums/", {"title": "holiday"}).context["form"].errors["title"]  # names are unique
    client.post(f"/photos/{image.id}/albums", {"album": str(album.id)})
    client.post(f"/photos/{image.id}/albums", {"new_title": "Cats"})
    assert sorted(a.title for a in image.albums.all()) == ["Cats", "Holiday"]
    client.post(f"/albums/{album.id}/rename", {"title": "Summer"})
    album.refresh_from_db()
    assert album.title == "Summer"
    client.post(f"/albums/{album.id}/photos/{image.id}/remove")
    assert not AlbumImage.objects.filter(album=album).exists()
    client.post(f"/albums/{album.id}/delete")
    assert not owner.albums.filter(title="Summer").exists()
    assert Image.objects.filter(pk=image.pk).exists()  # the photo stays


def test_album_cover_is_the_photo_with_the_clearest_subject(client, make_user, photo):
    owner = make_user()
    client.force_login(owner)
    album = services.album_create(owner=owner, title="Mixed")
    busy, clear, unanalysed = photo(owner=owner), photo(owner=owner), photo(owner=owner)
    Image.objects.filter(pk=busy.pk).update(saliency_focus=0.2)
    Image.objects.filter(pk=clear.pk).update(saliency_focus=0.8)
    services.album_images_add(album=album, images=[busy, clear, unanalysed])
    html = client.get("/albums/").content.decode()
    assert f"/photos/{clear.id}/thumbnail/wide.jpg" in html


def test_nobody_else_can_use_or_fill_my_albums(client, make_user, photo):
    alice, bob = make_user(), make_user()
    album = services.album_create(owner=alice, title="Private life")
    bobs_photo = photo(owner=bob)
    with pytest.raises(services.AlbumRejected):
        services.album_images_add(album=album, images=[bobs_photo])
    client.force_login(bob)
    for response in (client.get(f"/albums/{album.id}/"), client.post(f"/albums/{album.id}/rename", {"title": "x"}),
                     client.post(f"/albums/{album.id}/delete"),
                     client.post(f"/photos/{bobs_photo.id}/albums", {"album": str(album.id)})):
        assert response.status_code in (404, 302)
    album.refresh_from_db()
    assert album.title == "Private life" and not album.images.exists()
    assert "Private life" not in client.get("/albums/").content.decode()


def test_another_user_never_gets_a_private_photos_thumbnail_overlay_or_display_copy(client, make_user, photo):
    alice, bob = make_user(), make_user()
    private = photo(owner=alice)
    index_photo(private, np.ones(EMBEDDING_DIM))
    client.force_login(bob)
    for name in ("square", "wide"):
        assert client.get(f"/photos/{private.id}/thumbnail/{name}.jpg").status_code == 404
    for url in (f"/photos/{private.id}/file", f"/photos/{private.id}/original", f"/photos/{private.id}/overlay.png",
                f"/photos/{private.id}/overlay.png?fit=square", f"/photos/{private.id}/",
                f"/photos/{private.id}/similar"):
        assert client.get(url).status_code == 404, url
    client.logout()
    assert client.get(f"/photos/{private.id}/thumbnail/square.jpg").status_code == 404
    client.force_login(alice)
    assert client.get(f"/photos/{private.id}/thumbnail/square.jpg")["Content-Type"] == "image/jpeg"


def test_original_is_for_the_owner_only_even_when_public(client, make_user, photo):
    alice, bob = make_user(), make_user()
    public = photo(owner=alice, visibility=Visibility.PUBLIC)
    client.force_login(bob)
    assert client.get(f"/photos/{public.id}/file").status_code == 200
    assert client.get(f"/photos/{public.id}/original").status_code == 404
    client.force_login(alice)
    response = client.get(f"/photos/{public.id}/original")
    assert response["Content-Disposition"].startswith("attachment")
    assert b"".join(response.streaming_content) == public.file.open("rb").read()


def test_similar_results_hide_private_photos_and_show_more_on_demand(client, make_user, photo):
    from search.views import SIMILAR_PAGE_SIZE

    alice, bob = make_user(), make_user()
    rng = np.random.default_rng(1)
    base = np.ones(EMBEDDING_DIM)
    query = index_photo(photo(owner=bob, visibility="public", title="query"), base)
    secret = index_photo(photo(owner=alice, title="secret"), base + 0.01 * rng.normal(size=EMBEDDING_DIM))
    for _ in range(SIMILAR_PAGE_SIZE + 3):
        index_photo(photo(owner=bob, visibility="public"), base + rng.normal(size=EMBEDDING_DIM))

    client.force_login(bob)
    first = client.get(f"/photos/{query.id}/").context["similar"]
    assert len(first.results) == SIMILAR_PAGE_SIZE and first.has_more
    more = client.get(f"/photos/{query.id}/similar?offset={first.next_offset}")
    assert more.status_code == 200
    rest = more.context["similar"].results
    assert len(rest) == 3 and not more.context["similar"].has_more
    shown = {r.image.id for r in first.results} | {r.image.id for r in rest}
    assert secret.id not in shown and len(shown) == SIMILAR_PAGE_SIZE + 3
    assert "secret" not in client.get(f"/photos/{query.id}/").content.decode()

    client.force_login(alice)  # the owner sees her own photo first: it is the nearest
    assert client.get(f"/photos/{query.id}/").context["similar"].results[0].image.id == secret.id


def test_a_page_of_similar_photos_reads_the_version_vectors_and_overlays_with_its_ranking(client, make_user, photo):
    """"Show more" runs its own lookups (the viewer, the photo) and then the serving version with
    the photo's vectors in one query, and the results with their heat maps in another: no query
    of its own for the version or for the results' analyses, however many results there are."""
    owner = make_user()
    base = np.ones(EMBEDDING_DIM)
    rng = np.random.default_rng(3)
    shown = index_photo(photo(owner=owner, visibility="public"), base)
    for _ in range(5):
        index_photo(photo(owner=owner, visibility="public"), base + rng.normal(size=EMBEDDING_DIM))
    client.force_login(make_user())
    url = f"/photos/{shown.id}/similar?offset=0"
    client.get(url)
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    reads = [q["sql"] for q in captured if q["sql"].startswith("SELECT")]
    own_reads = ('SELECT "inference_modelversion"', 'SELECT "inference_imageanalysis"')
    assert not [sql for sql in reads if sql.startswith(own_reads)]
    # the user, the photo, its vectors (with the version), the search settings, the ranking
    assert len(reads) == 5, reads


def test_similar_results_say_which_embedding_matched(client, make_user, photo):
    owner = make_user()
    client.force_login(owner)
    rng = np.random.default_rng(2)
    whole, crop = rng.normal(size=EMBEDDING_DIM), rng.normal(size=EMBEDDING_DIM)
    query = index_photo(photo(owner=owner), whole, crop_vector=crop)
    # Same subject (crop) in another scene (whole).
    index_photo(photo(owner=owner, title="same subject"), rng.normal(size=EMBEDDING_DIM),
                crop_vector=crop + 0.05 * rng.normal(size=EMBEDDING_DIM))
    result = client.get(f"/photos/{query.id}/").context["similar"].results[0]
    assert result.match == "crop" and result.crop_similarity > 0.9 > result.whole_similarity
    assert "subject match" in client.get(f"/photos/{query.id}/").content.decode()
