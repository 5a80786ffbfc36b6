"""The similar-photos query: visibility, ordering, and that PostgreSQL answers it from HNSW."""

from __future__ import annotations

import numpy as np
import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import connection, transaction
from django.utils import timezone

from gallery.models import AnalysisStatus, Image, Visibility
from inference.configuration import configured_model_version
from inference.models import ImageAnalysis, ImageEmbedding
from inference.versions import EMBEDDING_DIM
from search import selectors
from search.selectors import (
    HNSW_EF_SEARCH,
    RESULT_ROW_DEFERRED,
    hnsw_session_settings,
    image_similar_list,
    image_similar_page,
    image_similar_queryset,
    search_session_set,
)
from search.templatetags.similar import similar_tile_key

pytestmark = pytest.mark.django_db


def unit(vector: np.ndarray) -> np.ndarray:
    return (vector / np.linalg.norm(vector)).astype(np.float32)


def indexed_image(owner, vector: np.ndarray, *, visibility=Visibility.PRIVATE, title="") -> Image:
    """A photo row with a finished analysis and embedding, without running the models."""
    image = Image.objects.create(owner=owner, file="images/x.jpg", content_type="image/jpeg",
                                 sha256=f"{np.random.default_rng().integers(1 << 62):064x}", size_bytes=1,
                                 width=4, height=3, visibility=visibility, title=title)
    ImageAnalysis.objects.create(image=image, model_version=configured_model_version(), status=AnalysisStatus.DONE)
    ImageEmbedding.objects.create(image=image, model_version=configured_model_version(), vector=vector,
                                  whole_vector=vector, crop_vector=vector, owner=owner, visibility=visibility)
    return image


def bulk_indexed_images(vectors: np.ndarray, *, owners, public) -> list[Image]:
    """One analysed photo per vector (the same vector whole, crop and fused), in two bulk inserts:
    galleries of thousands for the index tests. owners[i] and public[i] are photo i's."""
    images = Image.objects.bulk_create([
        Image(owner=owner, file=f"images/{i}.jpg", content_type="image/jpeg", sha256=f"{i:064x}", size_bytes=1,
              width=4, height=3, visibility=Visibility.PUBLIC if is_public else Visibility.PRIVATE)
        for i, (owner, is_public) in enumerate(zip(owners, public, strict=True))
    ])
    ImageEmbedding.objects.bulk_create([
        ImageEmbedding(image=image, model_version=configured_model_version(), vector=v, whole_vector=v, crop_vector=v,
                       owner_id=image.owner_id, visibility=image.visibility)
        for image, v in zip(images, vectors, strict=True)
    ])
    return images


def test_similar_ranks_by_cosine_and_respects_visibility(make_user):
    alice, bob = make_user("alice"), make_user("bob")
    base = unit(np.ones(EMBEDDING_DIM))
    rng = np.random.default_rng(0)
    query = indexed_image(alice, base, title="query")
    indexed_image(alice, unit(base + 0.1 * rng.normal(size=EMBEDDING_DIM)), title="near")
    indexed_image(alice, unit(base + 2.0 * rng.normal(size=EMBEDDING_DIM)), title="far")
    indexed_image(bob, unit(base + 0.02 * rng.normal(size=EMBEDDING_DIM)),
                               visibility=Visibility.PUBLIC, title="bob public")
    bob_private = indexed_image(bob, base, title="bob private")  # identical vector, but private

    results = image_similar_list(viewer=alice, image=query)
    titles = [r.image.title for r in results]
    assert titles == ["bob public", "near", "far"]
    assert bob_private.title not in titles and query.title not in titles
    similarities = [r.similarity for r in results]
    assert similarities == sorted(similarities, reverse=True) and similarities[0] > 0.95

    # Anonymous visitors see only public photos; bob sees his own private photo and alice's none.
    public_query = indexed_image(bob, base, visibility=Visibility.PUBLIC, title="public query")
    assert [r.image.title for r in image_similar_list(viewer=AnonymousUser(), image=public_query)] == ["bob public"]
    assert {r.image.title for r in image_similar_list(viewer=bob, image=public_query)} == {"bob public", "bob private"}


def test_results_load_what_they_show_so_an_owners_log_in_keeps_the_cached_tiles(make_user):
    """A result carries the columns its tile and the API show, not the owner's password hash or
    last log-in: the tiles' cache key follows what was loaded, so the owner signing in does not
    make every page that shows their photos render its tiles again; a new name still does."""
    owner, viewer = make_user("marta"), make_user()
    base = unit(np.ones(EMBEDDING_DIM))
    shown = indexed_image(owner, base, visibility=Visibility.PUBLIC)
    indexed_image(owner, unit(base + 0.1), visibility=Visibility.PUBLIC, title="twin")

    def key() -> str:
        return similar_tile_key(image_similar_page(viewer=viewer, image=shown).results[0])

    before = key()
    result = image_similar_page(viewer=viewer, image=shown).results[0].image
    assert {"password", "last_login", "email"} <= result.owner.get_deferred_fields()
    assert {"file", "sha256"} <= result.get_deferred_fields()
    owner.last_login = timezone.now()
    owner.save()
    assert key() == before
    owner.username = "marta_b"
    owner.save()
    assert key() != before


def test_similar_is_none_until_analysis_is_done(make_user):
    owner = make_user()
    image = Image.objects.create(owner=owner, file="images/y.jpg", content_type="image/jpeg", sha256="1" * 64,
                                 size_bytes=1, width=4, height=3)
    assert image_similar_list(viewer=owner, image=image) is None


def test_similar_query_uses_the_hnsw_index(make_user):
    owners = [make_user() for _ in range(5)]
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(3000, EMBEDDING_DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    images = bulk_indexed_images(vectors, owners=[owners[i % 5] for i in range(len(vectors))],
                                 public=[i % 3 == 0 for i in range(len(vectors))])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE gallery_image; ANALYZE inference_imageembedding")

    queryset = image_similar_queryset(viewer=owners[0], vector=vectors[0], model_version=configured_model_version(),
                                      exclude_image_id=images[0].id, limit=24)
    with transaction.atomic():
        with connection.cursor() as cursor:
            search_session_set(cursor, version=configured_model_version(), wanted=25)  # what pages run
            cursor.execute("SHOW hnsw.ef_search")
            assert int(cursor.fetchone()[0]) == HNSW_EF_SEARCH
        plan = queryset.explain()
        rows = list(queryset)
    # The public part on its partial HNSW index; the owner's part (a fifth of the photos here,
    # where reading the table is the planner's cheapest exact scan) never walks a graph.
    assert "embedding_public_half_hnsw" in plan, plan
    assert len(rows) == 24
    assert set(RESULT_ROW_DEFERRED) <= rows[0].get_deferred_fields()  # a page never reads the vectors
    visible = {img.id for img in images if img.owner_id == owners[0].id or img.visibility == Visibility.PUBLIC}
    assert all(row.image_id in visible for row in rows)


def test_a_small_gallery_is_searched_exactly_and_every_photo_is_found(make_user):
    """Below EXACT_SEARCH_BELOW vectors the page comes from an exact scan: an HNSW graph of a few
    dozen photos inserted one by one can leave one unreachable (m 8), and nobody may miss a photo."""
    owner = make_user()
    rng = np.random.default_rng(3)
    base = np.ones(EMBEDDING_DIM)
    query = indexed_image(owner, unit(base))
    others = {indexed_image(owner, unit(base + rng.normal(size=EMBEDDING_DIM))).id for _ in range(40)}
    queryset = image_similar_queryset(viewer=owner, vector=unit(base), model_version=configured_model_version(),
                                      exclude_image_id=query.id, limit=50)
    with transaction.atomic():
        with connection.cursor() as cursor:
            search_session_set(cursor, version=configured_model_version(), wanted=51)
        plan = queryset.explain()
    assert "hnsw" not in plan, plan
    page = image_similar_page(viewer=owner, image=query, limit=50)
    assert {result.image.id for result in page.results} == others and not page.has_more
    assert [r.similarity for r in page.results] == sorted((r.similarity for r in page.results), reverse=True)


def test_a_large_version_is_counted_once_a_minute_and_a_shrunk_one_goes_back_to_exact(make_user, monkeypatch):
    """The exact-scan switch counts a version's vectors; a version seen large is trusted for
    LARGE_VERSION_RECOUNT_SECONDS, then counted again, so a gallery emptied by mass deletion is
    searched exactly once more."""
    from django.test.utils import CaptureQueriesContext

    monkeypatch.setattr(selectors, "EXACT_SEARCH_BELOW", 5)
    owner = make_user()
    rng = np.random.default_rng(4)
    images = [indexed_image(owner, unit(rng.normal(size=EMBEDDING_DIM))) for _ in range(6)]
    version = configured_model_version()

    def session_set() -> tuple[str, bool]:
        """(enable_indexscan, whether the vectors were counted) for one page's transaction."""
        with transaction.atomic(), CaptureQueriesContext(connection) as queries, connection.cursor() as cursor:
            search_session_set(cursor, version=version, wanted=25)
            cursor.execute("SHOW enable_indexscan")
            return cursor.fetchone()[0], any("count(*)" in q["sql"] for q in queries.captured_queries)

    assert session_set() == ("on", True)
    assert session_set() == ("on", False)  # trusted: not counted again
    ImageEmbedding.objects.filter(image__in=images[:4]).delete()
    assert session_set() == ("on", False)  # still within the minute
    monkeypatch.setattr(selectors, "LARGE_VERSION_RECOUNT_SECONDS", 0.0)
    assert session_set() == ("off", True)  # counted again: 2 vectors, an exact scan
    assert session_set() == ("off", True)  # a small version is counted on every page


def test_filtered_query_is_split_by_index_and_fills_the_page_when_little_is_visible(make_user):
    """The hard case at any scale: the viewer owns 1 % of the photos and 5 % are public, so one
    HNSW scan of every photo (ef_search candidates, then the filter) would return a few rows
    instead of a page, or with iterative scans reject 16 candidates for each row it keeps. The
    query is split: the public photos' own graph (partial index, where only other versions' rows
    could fail the test) and an exact scan of the viewer's rows by owner, and must find the right
    photos.

    The vectors are clustered with a power-law spread, like photo embeddings (the model of
    bench/search.py's synthetic_gallery): uniform 128-D noise is the worst case for any graph and
    unlike photos (there the m-8 index finds 0.92-0.95 of the exact top 10, ad hoc, so a floor
    would only measure luck), while on photo-like vectors the floor can be strict."""
    viewer, others = make_user("viewer"), [make_user() for _ in range(20)]
    rng = np.random.default_rng(2)
    count = 8000
    centres = rng.normal(size=(16, EMBEDDING_DIM))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    basis, _ = np.linalg.qr(rng.normal(size=(EMBEDDING_DIM, EMBEDDING_DIM)))
    spread = (basis * np.sqrt(1.0 / np.arange(1, EMBEDDING_DIM + 1))).T
    vectors = (centres[rng.integers(0, len(centres), count)]
               + 0.35 * rng.normal(size=(count, EMBEDDING_DIM)) @ spread).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    owned = rng.random(count) < 0.01
    public = rng.random(count) < 0.05
    images = bulk_indexed_images(vectors, owners=[viewer if owned[i] else others[i % 20] for i in range(count)],
                                 public=public)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE gallery_image; ANALYZE inference_imageembedding")
    visible = owned | public
    row_of = {image.id: row for row, image in enumerate(images)}

    hits = 0
    sources = np.flatnonzero(owned)[:20]
    for source in sources:
        queryset = image_similar_queryset(viewer=viewer, vector=vectors[source],
                                          model_version=configured_model_version(),
                                          exclude_image_id=images[source].id, limit=25)
        with transaction.atomic():
            with connection.cursor() as cursor:
                for name, value in hnsw_session_settings(wanted=25).items():
                    cursor.execute(f"SET LOCAL {name} = {value}")
            plan = queryset.explain()
        public_scan = plan.split("Index Scan using embedding_public_half_hnsw")[1].split("->")[0]
        assert "Order By" in public_scan, plan  # ranked by the graph, not sorted afterwards
        # The viewer's own rows (1 %) through the partial B-tree of non-public rows, ranked by an
        # exact sort: the part's WHERE implies the index's. (Index-only once VACUUM has marked the
        # pages all-visible, which a test's transaction cannot run; the test below does.)
        own_part = plan.split("Subquery Scan")[2]
        assert "Sort" in own_part and "hnsw" not in own_part, plan
        assert "Index Cond: ((owner_id = " in own_part and "embedding_owner_private" in own_part, plan

        page = image_similar_page(viewer=viewer, image=images[source], limit=24)
        rows = [row_of[result.image.id] for result in page.results]
        assert len(rows) == 24 and page.has_more
        assert all(visible[row] for row in rows) and source not in rows
        scores = vectors @ vectors[source]
        scores[~visible] = -np.inf
        scores[source] = -np.inf
        exact_top10 = set(np.argsort(-scores)[:10].tolist())
        hits += len(exact_top10 & set(rows[:10]))
    assert hits / (10 * len(sources)) >= 0.97


@pytest.mark.django_db(transaction=True)
def test_the_own_photos_part_is_answered_from_the_owner_btree_alone(make_user):
    """The viewer's own part reads its rows from the partial B-tree of non-public rows
    (``embedding_owner_private``) without a single table row (an index-only scan, no heap
    fetch once VACUUM has run): the index carries every column that part reads, the stored
    half-precision vector included, and holds no public row (those come from the public graph)."""
    viewer, others = make_user("viewer"), [make_user() for _ in range(10)]
    rng = np.random.default_rng(6)
    count = 3000
    vectors = rng.normal(size=(count, EMBEDDING_DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    images = bulk_indexed_images(vectors, owners=[viewer if i % 100 == 0 else others[i % 10] for i in range(count)],
                                 public=[i % 20 == 1 for i in range(count)])
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE inference_imageembedding")
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'embedding_owner_private'")
        assert cursor.fetchone()[0].endswith("(owner_id, model_version) INCLUDE (image_id, id, vector_half)"
                                             " WHERE (NOT ((visibility)::text = 'public'::text))")
        cursor.execute("SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
                       " WHERE c.relname = 'embedding_owner_version'")
        assert cursor.fetchone()[0] == 0  # 0012 dropped the B-tree of every row

    queryset = image_similar_queryset(viewer=viewer, vector=vectors[0], model_version=configured_model_version(),
                                      exclude_image_id=images[0].id, limit=24)
    with transaction.atomic():
        with connection.cursor() as cursor:
            search_session_set(cursor, version=configured_model_version(), wanted=25)
        plan = queryset.explain(analyze=True)
    assert "Index Only Scan using embedding_owner_private" in plan.split("Subquery Scan")[2], plan
    scan = plan.split("Index Only Scan using embedding_owner_private")[1].split("->")[0]  # that node's lines
    assert "Heap Fetches: 0" in scan, plan
    read = float(scan.split("rows=")[2].split()[0])  # the actual rows: the viewer's own, less the query photo
    assert read == sum(1 for i in range(1, count) if i % 100 == 0), plan


def test_the_half_precision_copy_follows_the_vector(make_user):
    """``vector_half``, which the owner B-tree carries and the own part ranks by, is the search
    vector in half precision, computed by PostgreSQL on every write: a re-analysis that writes a
    new vector leaves no stale copy behind."""
    owner = make_user()
    rng = np.random.default_rng(7)
    first, second = unit(rng.normal(size=EMBEDDING_DIM)), unit(rng.normal(size=EMBEDDING_DIM))
    image = indexed_image(owner, first)
    embedding = ImageEmbedding.objects.get(image=image)
    np.testing.assert_allclose(embedding.vector_half, first, atol=1e-3)
    embedding.vector = second
    embedding.save()
    np.testing.assert_allclose(ImageEmbedding.objects.get(image=image).vector_half, second, atol=1e-3)
    ImageEmbedding.objects.filter(image=image).update(vector=first)
    np.testing.assert_allclose(ImageEmbedding.objects.get(image=image).vector_half, first, atol=1e-3)
    # inference.services.image_analyze's write: INSERT ... ON CONFLICT DO UPDATE.
    ImageEmbedding.objects.bulk_create(
        [ImageEmbedding(image=image, model_version=embedding.model_version, vector=second, whole_vector=second,
                        crop_vector=second, owner=owner, visibility=Visibility.PRIVATE)],
        update_conflicts=True, unique_fields=["image", "model_version"], update_fields=["vector"])
    np.testing.assert_allclose(ImageEmbedding.objects.get(image=image).vector_half, second, atol=1e-3)


@pytest.mark.parametrize("exact_below", [0, selectors.EXACT_SEARCH_BELOW], ids=["index scans", "exact scan"])
def test_the_split_query_shows_public_and_own_photos_once_and_never_anothers_private_one(make_user, monkeypatch,
                                                                                       exact_below):
    """Both parts of the query, merged: everyone's public photos and the viewer's own private
    ones, each once (the viewer's public photos come from the public part only), page after
    page; another person's private photos never, however near they are."""
    monkeypatch.setattr(selectors, "EXACT_SEARCH_BELOW", exact_below)
    selectors.large_versions_forget()
    viewer, other = make_user("viewer"), make_user("other")
    rng = np.random.default_rng(5)
    base = unit(np.ones(EMBEDDING_DIM))

    def near(spread: float) -> np.ndarray:
        return unit(base + spread * rng.normal(size=EMBEDDING_DIM))

    query = indexed_image(viewer, base)
    others_private = {indexed_image(other, near(0.01)).id for _ in range(6)}  # the nearest of all
    own_private = {indexed_image(viewer, near(0.2)).id for _ in range(4)}
    own_public = {indexed_image(viewer, near(0.2), visibility=Visibility.PUBLIC).id for _ in range(3)}
    others_public = {indexed_image(other, near(0.2), visibility=Visibility.PUBLIC).id for _ in range(4)}

    def pages(who, image) -> list:
        found, offset = [], 0
        while True:
            page = image_similar_page(viewer=who, image=image, limit=3, offset=offset)
            found += [result.image.id for result in page.results]
            if not page.has_more:
                return found
            offset = page.next_offset

    seen = pages(viewer, query)
    assert len(seen) == len(set(seen))  # no photo twice, on one page or across pages
    assert set(seen) == own_private | own_public | others_public
    public_photo = Image.objects.get(id=next(iter(others_public)))
    assert set(pages(AnonymousUser(), public_photo)) == (own_public | others_public) - {public_photo.id}
    # The other person sees their own private photos and not the viewer's.
    assert set(pages(other, public_photo)) == (others_private | own_public | others_public) - {public_photo.id}


def test_visibility_copies_follow_image_update_and_a_stale_copy_never_shows_a_private_photo(make_user):
    from gallery.services import image_update

    alice, bob = make_user("alice"), make_user("bob")
    base = unit(np.ones(EMBEDDING_DIM))
    query = indexed_image(bob, base, visibility=Visibility.PUBLIC, title="query")
    photo = indexed_image(alice, unit(base + 0.05), title="alice's")

    def bob_sees() -> list[str]:
        return [r.image.title for r in image_similar_list(viewer=bob, image=query)]

    assert bob_sees() == []
    image_update(image=photo, visibility=Visibility.PUBLIC)
    assert ImageEmbedding.objects.get(image=photo).visibility == Visibility.PUBLIC
    assert bob_sees() == ["alice's"]
    image_update(image=photo, visibility=Visibility.PRIVATE)
    assert ImageEmbedding.objects.get(image=photo).visibility == Visibility.PRIVATE
    assert bob_sees() == []

    # A copy gone stale (a write that bypassed the services) cannot leak: the photo row decides.
    ImageEmbedding.objects.filter(image=photo).update(visibility=Visibility.PUBLIC)
    assert bob_sees() == []
