"""An existing installation upgrades with its data: a database at the schema main had when the
layout was reorganised (issue 15), holding users, photos, albums, analyses, embeddings, model
versions, searches and an unfinished upload, is migrated to the current head, and every row and
value is still there (the status vocabulary kept its stored values)."""

from __future__ import annotations

import io
import uuid

import numpy as np
import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

# The heads of main before this release: what a running installation has applied.
BEFORE = [
    ("gallery", "0004_resumable_photo_uploads"),
    ("inference", "0003_embedding_owner_visibility_copy"),
    ("search", "0001_initial"),
]
DIM = 128


def _migrate(targets) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


def _heads() -> list[tuple[str, str]]:
    graph = MigrationExecutor(connection).loader.graph
    return [node for node in graph.leaf_nodes() if node[0] in {"gallery", "inference", "search"}]


def _unit(seed: int) -> list[float]:
    vector = np.random.default_rng(seed).normal(size=DIM)
    return list(vector / np.linalg.norm(vector))


@pytest.mark.django_db(transaction=True)
def test_a_database_of_the_previous_release_upgrades_with_its_data():
    _migrate(BEFORE)
    try:
        old = MigrationExecutor(connection).loader.project_state(BEFORE).apps
        User = old.get_model("auth", "User")  # the models as that schema had them
        Image, Album, AlbumImage = (old.get_model("gallery", name) for name in ("Image", "Album", "AlbumImage"))
        upload_model = old.get_model("gallery", "ResumableUpload")
        Analysis, Embedding, Version = (
            old.get_model("inference", name) for name in ("ImageAnalysis", "ImageEmbedding", "ModelVersion"))
        Query = old.get_model("search", "SimilarityQuery")

        alice, bob = (User.objects.create(username=name, password="!") for name in ("alice", "bob"))
        photos = []
        for n, (owner, visibility, status) in enumerate([(alice, "public", "done"), (alice, "private", "failed"),
                                                         (bob, "private", "pending"), (bob, "public", "running")]):
            photos.append(Image.objects.create(
                id=uuid.uuid4(), owner=owner, file=f"images/{n}.jpg", content_type="image/jpeg", sha256=f"{n:064x}",
                size_bytes=1000 + n, width=640, height=480, visibility=visibility, title=f"photo {n}",
                analysis_status=status, analysis_error="OSError: truncated" if status == "failed" else ""))
        album = Album.objects.create(id=uuid.uuid4(), owner=alice, title="Holiday")
        AlbumImage.objects.create(album=album, image=photos[0])
        AlbumImage.objects.create(album=album, image=photos[1])
        Version.objects.create(name="sal-v1+emb-v1", status="active")
        for n, photo in enumerate(photos):
            Analysis.objects.create(image=photo, model_version="sal-v1+emb-v1", status=photo.analysis_status,
                                    error=photo.analysis_error, attempts=n, crop_left=1, crop_top=2, crop_right=30,
                                    crop_bottom=40, overlay=f"analysis/{n}/overlay.png",
                                    timings_ms={"total_ms": 10.0 + n})
        for n, photo in enumerate(photos[:2]):
            Embedding.objects.create(image=photo, model_version="sal-v1+emb-v1", vector=_unit(n), whole_vector=_unit(n),
                                     crop_vector=_unit(n + 10), owner=photo.owner, visibility=photo.visibility)
        Query.objects.create(id=uuid.uuid4(), owner=bob, source_image=photos[0], box_left=0, box_top=0, box_right=20,
                             box_bottom=20, status="done", model_version="sal-v1+emb-v1", vector=_unit(7),
                             whole_vector=_unit(7), crop_vector=_unit(8))
        Query.objects.create(id=uuid.uuid4(), owner=alice, file="queries/q.jpg", status="failed", error="broken")
        upload_model.objects.create(owner=alice, upload_length=100, upload_offset=40, filename="big.jpg")
    finally:
        _migrate(_heads())  # whatever happened, later tests get the current schema

    from django.contrib.auth import get_user_model

    from gallery.models import Album, AnalysisStatus, Image, ResumableUpload
    from inference.models import ImageAnalysis, ImageEmbedding, ModelVersion
    from search.models import SimilarityQuery

    assert set(get_user_model().objects.values_list("username", flat=True)) == {"alice", "bob"}
    images = {image.title: image for image in Image.objects.all()}
    assert len(images) == 4
    assert images["photo 1"].analysis_status == AnalysisStatus.FAILED
    assert images["photo 1"].get_analysis_status_display() == "Analysis failed"
    assert images["photo 1"].analysis_error == "OSError: truncated"
    assert [images[f"photo {n}"].analysis_status for n in range(4)] == [
        AnalysisStatus.DONE, AnalysisStatus.FAILED, AnalysisStatus.PENDING, AnalysisStatus.RUNNING]
    assert {(i.owner.username, i.visibility, i.size_bytes) for i in images.values()} == {
        ("alice", "public", 1000), ("alice", "private", 1001), ("bob", "private", 1002), ("bob", "public", 1003)}
    album = Album.objects.get()
    assert album.title == "Holiday" and set(album.images.values_list("title", flat=True)) == {"photo 0", "photo 1"}
    analyses = {a.image.title: a for a in ImageAnalysis.objects.select_related("image")}
    assert {title: a.status for title, a in analyses.items()} == {
        "photo 0": "done", "photo 1": "failed", "photo 2": "pending", "photo 3": "running"}
    assert analyses["photo 3"].crop_box == (1, 2, 30, 40) and analyses["photo 3"].timings_ms == {"total_ms": 13.0}
    assert analyses["photo 0"].get_status_display() == "Analysed"
    assert {a.worker for a in analyses.values()} == {""}  # the column added by 0005 has a database default
    embeddings = {e.image.title: e for e in ImageEmbedding.objects.select_related("image")}
    assert set(embeddings) == {"photo 0", "photo 1"}
    np.testing.assert_allclose(embeddings["photo 1"].vector, _unit(1), atol=1e-6)
    np.testing.assert_allclose(embeddings["photo 0"].crop_vector, _unit(10), atol=1e-6)
    assert embeddings["photo 1"].visibility == "private" and embeddings["photo 1"].owner.username == "alice"
    # 0006 replaced the float32 HNSW index with the half-precision one; 0007 added the public
    # photos' graph and 0008 the owner B-tree of the split similar-photos query; 0009 dropped the
    # graph of every photo, which no query walks any more; 0010-0012 replaced the owner B-tree
    # with one of the non-public rows carrying the stored half-precision vector.
    assert _hnsw_indexes() == ["embedding_public_half_hnsw"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'embedding_public_half_hnsw'")
        assert "WHERE ((visibility)::text = 'public'::text)" in cursor.fetchone()[0]
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'embedding_owner_private'")
        assert cursor.fetchone()[0].endswith("(owner_id, model_version) INCLUDE (image_id, id, vector_half)"
                                             " WHERE (NOT ((visibility)::text = 'public'::text))")
    assert _index_valid("embedding_owner_version") is None
    # The rows written before the column existed have their half-precision copy too.
    np.testing.assert_allclose(embeddings["photo 1"].vector_half, _unit(1), atol=1e-3)
    assert ModelVersion.objects.get().status == "active"
    region, outside = (SimilarityQuery.objects.get(owner__username=name) for name in ("bob", "alice"))
    assert region.status == AnalysisStatus.DONE and region.box == (0, 0, 20, 20)
    assert region.source_image.title == "photo 0"
    np.testing.assert_allclose(region.vector, _unit(7), atol=1e-6)
    assert outside.status == AnalysisStatus.FAILED and outside.error == "broken"
    assert outside.file.name == "queries/q.jpg"
    upload = ResumableUpload.objects.get()
    assert (upload.owner.username, upload.upload_length, upload.upload_offset) == ("alice", 100, 40)


def _hnsw_indexes() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'inference_imageembedding'"
                       " AND indexdef ILIKE '%USING hnsw%' ORDER BY indexname")
        return [row[0] for row in cursor.fetchall()]


def _half_index_valid() -> bool | None:
    """indisvalid of 0006's index; None when there is none."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
                       " WHERE c.relname = 'embedding_vector_half_hnsw'")
        row = cursor.fetchone()
    return None if row is None else row[0]


@pytest.mark.django_db(transaction=True)
def test_a_failed_concurrent_index_build_is_recovered_as_the_readme_says():
    """A CREATE INDEX CONCURRENTLY that fails (cancelled, out of disk, a bad row) leaves an INVALID
    index behind and 0006 unrecorded. README ("Capacity"): find it by pg_index.indisvalid, DROP
    INDEX CONCURRENTLY, migrate again. The failure here is a row whose vector does not fit half
    precision, the one way to make the build fail on cue."""
    before_0006 = [("inference", "0005_analysis_worker")]
    _migrate(before_0006)
    try:
        # Only inference's 0006-0012 are unapplied; 0010 adds a (generated) column that today's
        # embedding model reads back on insert, so the embedding is written as 0005 had it.
        from django.contrib.auth import get_user_model

        from gallery.models import Image

        old = MigrationExecutor(connection).loader.project_state(before_0006).apps
        ImageEmbedding = old.get_model("inference", "ImageEmbedding")

        owner = get_user_model().objects.create(username="alice", password="!")
        image = Image.objects.create(owner=owner, file="images/0.jpg", content_type="image/jpeg", sha256="0" * 64,
                                     size_bytes=1, width=4, height=3)
        too_big = [1e6] * DIM  # above halfvec's largest value, 65504: the cast in the index fails
        bad = ImageEmbedding.objects.create(image_id=image.id, model_version="v", vector=too_big, whole_vector=too_big,
                                            crop_vector=too_big, owner_id=owner.id, visibility="private")
        with pytest.raises(Exception, match="out of range for type halfvec"):
            _migrate(_heads())
        assert _half_index_valid() is False  # left behind, INVALID: never used by a query
        assert _hnsw_indexes() == ["embedding_vector_half_hnsw", "embedding_vector_hnsw"]  # search keeps the old one
        with pytest.raises(Exception, match="already exists"):
            _migrate(_heads())  # migrating again alone does not help: the name is taken

        bad.delete()  # the cause, then the operator's two steps
        with connection.cursor() as cursor:
            cursor.execute("DROP INDEX CONCURRENTLY embedding_vector_half_hnsw")
        _migrate([("inference", "0006_embedding_vector_half_hnsw")])  # where the operator's migrate passes
        assert _half_index_valid() is True
        assert _hnsw_indexes() == ["embedding_vector_half_hnsw"]  # and 0006 dropped the float32 one
        _migrate(_heads())
        assert _half_index_valid() is None  # 0009 dropped it in turn
    finally:
        if _half_index_valid() is False:
            with connection.cursor() as cursor:
                cursor.execute("DROP INDEX CONCURRENTLY embedding_vector_half_hnsw")
        _migrate(_heads())  # whatever happened, later tests get the current schema
    assert _hnsw_indexes() == ["embedding_public_half_hnsw"]


def _index_valid(name: str) -> bool | None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
                       " WHERE c.relname = %s", [name])
        row = cursor.fetchone()
    return None if row is None else row[0]


@pytest.mark.django_db(transaction=True)
def test_a_cancelled_build_of_the_public_index_is_recovered_as_its_migration_says():
    """0007's documented recovery, for the other way a build fails: cancelled. A writer's open
    transaction makes CREATE INDEX CONCURRENTLY wait after it has created its (invalid) index;
    statement_timeout cancels it there, as an operator's pg_cancel_backend would."""
    import psycopg

    from tests.conftest import database_url_for_tests

    _migrate([("inference", "0006_embedding_vector_half_hnsw")])
    writer = psycopg.connect(database_url_for_tests())  # not autocommit: its transaction stays open
    try:
        writer.execute("LOCK TABLE inference_imageembedding IN ROW EXCLUSIVE MODE")  # what an INSERT holds
        with connection.cursor() as cursor:
            cursor.execute("SET statement_timeout = '1s'")
        try:
            with pytest.raises(Exception, match="statement timeout"):
                _migrate(_heads())
        finally:
            with connection.cursor() as cursor:
                cursor.execute("RESET statement_timeout")
        writer.rollback()
        assert _index_valid("embedding_public_half_hnsw") is False  # left behind, never used by a query
        assert _index_valid("embedding_owner_version") is None  # 0008 did not run
        with pytest.raises(Exception, match="already exists"):
            _migrate(_heads())

        with connection.cursor() as cursor:  # the migration's two steps
            cursor.execute("DROP INDEX CONCURRENTLY embedding_public_half_hnsw")
        _migrate(_heads())
        assert _index_valid("embedding_public_half_hnsw") is True
        assert _index_valid("embedding_owner_private") is True
        assert _index_valid("embedding_owner_version") is None  # 0012 replaced it after 0008 built it
        assert _hnsw_indexes() == ["embedding_public_half_hnsw"]  # 0009 ran after them
    finally:
        writer.close()
        if _index_valid("embedding_public_half_hnsw") is False:
            with connection.cursor() as cursor:
                cursor.execute("DROP INDEX CONCURRENTLY embedding_public_half_hnsw")
        _migrate(_heads())  # whatever happened, later tests get the current schema


def _sqlmigrate(migration: str, *args: str) -> str:
    """The SQL ``manage.py sqlmigrate inference <migration>`` prints (``--backwards`` for the way back)."""
    from django.core.management import call_command

    out = io.StringIO()
    call_command("sqlmigrate", "inference", migration, *args, stdout=out)
    return out.getvalue()


def _public_and_private_embedded_photos() -> None:
    """One public and one private analysed photo of one owner, written with the current models."""
    from django.contrib.auth import get_user_model

    from gallery.models import Image, Visibility
    from inference.models import ImageEmbedding

    owner = get_user_model().objects.create(username="alice", password="!")
    for n, visibility in enumerate([Visibility.PUBLIC, Visibility.PRIVATE]):
        image = Image.objects.create(owner=owner, file=f"images/{n}.jpg", content_type="image/jpeg",
                                     sha256=f"{n:064x}", size_bytes=1, width=4, height=3, visibility=visibility)
        ImageEmbedding.objects.create(image=image, model_version="v", vector=_unit(n), whole_vector=_unit(n),
                                      crop_vector=_unit(n), owner=owner, visibility=visibility)


@pytest.mark.django_db(transaction=True)
def test_dropping_the_graph_of_every_photo_is_reversible_and_concurrent():
    """0009 drops the index no query uses and, migrated back, rebuilds it as 0006 defined it;
    both ways CONCURRENTLY, so search and analyses go on meanwhile."""
    from inference.models import ImageEmbedding

    assert 'DROP INDEX CONCURRENTLY IF EXISTS "embedding_vector_half_hnsw"' in _sqlmigrate("0009")
    assert 'CREATE INDEX CONCURRENTLY "embedding_vector_half_hnsw"' in _sqlmigrate("0009", "--backwards")

    _public_and_private_embedded_photos()
    try:
        _migrate([("inference", "0008_embedding_owner_version")])
        assert _index_valid("embedding_vector_half_hnsw") is True
        with connection.cursor() as cursor:
            cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'embedding_vector_half_hnsw'")
            definition = cursor.fetchone()[0]
        assert "USING hnsw (((vector)::halfvec(128)) halfvec_cosine_ops) WITH (m='8', ef_construction='128')" \
            in definition and "WHERE" not in definition  # every photo, as 0006 built it
        assert _hnsw_indexes() == ["embedding_public_half_hnsw", "embedding_vector_half_hnsw"]
    finally:
        _migrate(_heads())  # whatever happened, later tests get the current schema
    assert _hnsw_indexes() == ["embedding_public_half_hnsw"]
    assert ImageEmbedding.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_the_smaller_owner_btree_replaces_the_old_one_reversibly_and_concurrently():
    """0010 adds the stored half-precision vector, 0011 builds the partial owner B-tree that
    carries it next to 0008's (search keeps using the old one meanwhile) and 0012 drops 0008's,
    both CONCURRENTLY. Migrated back, 0008's B-tree is rebuilt as it was and the column goes;
    the rows stay."""
    from inference.models import ImageEmbedding

    assert 'CREATE INDEX CONCURRENTLY "embedding_owner_private"' in _sqlmigrate("0011")
    assert 'DROP INDEX CONCURRENTLY IF EXISTS "embedding_owner_version"' in _sqlmigrate("0012")
    assert 'CREATE INDEX CONCURRENTLY "embedding_owner_version"' in _sqlmigrate("0012", "--backwards")

    _public_and_private_embedded_photos()

    def columns() -> set[str]:
        with connection.cursor() as cursor:
            return {c.name for c in connection.introspection.get_table_description(cursor, "inference_imageembedding")}

    try:
        _migrate([("inference", "0011_embedding_owner_private")])  # both B-trees: the old code's and the new
        assert _index_valid("embedding_owner_version") is True and _index_valid("embedding_owner_private") is True
        _migrate([("inference", "0009_remove_embedding_vector_half_hnsw")])
        assert _index_valid("embedding_owner_private") is None and "vector_half" not in columns()
        with connection.cursor() as cursor:
            cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'embedding_owner_version'")
            assert "(owner_id, model_version) INCLUDE (visibility, image_id, id, vector)" in cursor.fetchone()[0]
            cursor.execute("SELECT count(*) FROM inference_imageembedding")
            assert cursor.fetchone()[0] == 2
    finally:
        _migrate(_heads())  # whatever happened, later tests get the current schema
    assert _index_valid("embedding_owner_version") is None and _index_valid("embedding_owner_private") is True
    assert "vector_half" in columns()
    for n, embedding in enumerate(ImageEmbedding.objects.order_by("image__sha256")):
        np.testing.assert_allclose(embedding.vector_half, _unit(n), atol=1e-3)


@pytest.mark.django_db
def test_the_models_and_migrations_agree():
    """makemigrations finds nothing to write: the models' indexes are the migrated ones (0009
    and the model's Meta.indexes both lost the graph of every photo)."""
    from django.core.management import call_command

    call_command("makemigrations", "--check", "--dry-run", stdout=io.StringIO())
