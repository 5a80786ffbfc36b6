"""Queries compiled once per process (gallery.platform.prepared) send what the ORM would send for
the same values, return the same rows, and never let a photo out that the viewer may not see."""

from __future__ import annotations

import uuid

import numpy as np
import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import connection, transaction
from django.db.models import TextField
from pgvector import Vector

from gallery import selectors as gallery_selectors
from gallery.models import Image, Visibility
from gallery.platform.prepared import PreparedQuery, first_row_queryset
from inference import selectors as inference_selectors
from inference.configuration import configured_model_version
from inference.models import ImageAnalysis, ImageEmbedding
from inference.selectors import embedding_version_serving_expression
from inference.versions import EMBEDDING_DIM
from search import selectors as search_selectors
from search.selectors import image_similar_page, image_similar_queryset
from tests.search.test_similar import indexed_image, unit

pytestmark = pytest.mark.django_db


def _orm_sql(queryset) -> tuple[str, tuple]:
    sql, params = queryset.query.sql_with_params()
    return sql, tuple(params)


@pytest.mark.parametrize("signed_in", [True, False])
@pytest.mark.parametrize("excluding", [True, False])
@pytest.mark.parametrize(("limit", "offset"), [(25, 0), (25, 24), (4, 3)])
def test_ranking_query_is_the_orms(make_user, signed_in, excluding, limit, offset):
    viewer = make_user("alice") if signed_in else AnonymousUser()
    rng = np.random.default_rng(3)
    vectors = {name: unit(rng.normal(size=EMBEDDING_DIM)) for name in ("vector", "whole_vector", "crop_vector")}
    exclude = uuid.uuid4() if excluding else None
    version = configured_model_version()
    orm = image_similar_queryset(viewer=viewer, model_version=version, exclude_image_id=exclude, limit=limit,
                                 offset=offset, **vectors)
    values = {"viewer": viewer, "model_version": version, "exclude_image_id": exclude,
              **{name: Vector(vector).to_text() for name, vector in vectors.items()}}
    prepared = search_selectors._RANKING.sql_with_params(values=values, signed_in=signed_in, excluding=excluding,
                                                         limit=limit, offset=offset)
    assert prepared == _orm_sql(orm)
    assert len(set(prepared[1]) & {exclude, version}) == (2 if excluding else 1)


def test_source_analysis_and_visibility_queries_are_the_orms(make_user):
    alice = make_user("alice")
    image = indexed_image(alice, unit(np.ones(EMBEDDING_DIM)))
    orm = first_row_queryset(ImageEmbedding.objects.filter(
        image=image, model_version=embedding_version_serving_expression()).only(
        "model_version", "vector", "whole_vector", "crop_vector"))
    assert search_selectors._SOURCE_VECTORS.sql_with_params(
        values={"image": image, "configured_version": configured_model_version()}) == _orm_sql(orm)
    orm = inference_selectors._analyses_newest_first().filter(image_id=image.id)
    assert inference_selectors._ANALYSES_OF_IMAGE.sql_with_params(
        values={"image_id": image.id, "configured_version": configured_model_version()}) == _orm_sql(orm)
    assert inference_selectors.image_analysis_shown(image_id=image.id) == ImageAnalysis.objects.get(image=image)
    for viewer in (alice, AnonymousUser()):
        orm = first_row_queryset(Image.objects.filter(gallery_selectors.visible_to(viewer), id=image.id)
                                 .select_related("owner"))
        values = {"viewer": viewer, "image_id": image.id} if viewer.is_authenticated else {"image_id": image.id}
        assert gallery_selectors._IMAGE_VISIBLE.sql_with_params(
            values=values, signed_in=viewer.is_authenticated) == _orm_sql(orm)


def test_rows_are_the_querysets(make_user):
    """The instances, their select_related rows and their annotations are what iterating the
    queryset gives, for other viewers' rows too."""
    alice, bob = make_user("alice"), make_user("bob")
    rng = np.random.default_rng(5)
    images = [indexed_image(owner, unit(rng.normal(size=EMBEDDING_DIM)), visibility=visibility, title=f"p{i}")
              for i, (owner, visibility) in enumerate([(alice, Visibility.PRIVATE), (alice, Visibility.PUBLIC),
                                                       (bob, Visibility.PUBLIC), (bob, Visibility.PRIVATE)])]
    source = ImageEmbedding.objects.get(image=images[0])
    version = configured_model_version()
    vectors = {"vector": source.vector, "whole_vector": source.whole_vector, "crop_vector": source.crop_vector}
    # Both run as a page runs them (search_session_set: here a small version, so an exact scan);
    # outside it the graph scan's default breadth can end on entries earlier tests rolled back.
    with transaction.atomic(), connection.cursor() as cursor:
        search_selectors.search_session_set(cursor, version=version, wanted=10)
        expected = list(image_similar_queryset(viewer=alice, model_version=version, exclude_image_id=images[0].id,
                                               limit=10, **vectors))
        got = search_selectors._RANKING.list(
            values={"viewer": alice, "model_version": version, "exclude_image_id": images[0].id,
                    **{name: Vector(vector).to_text() for name, vector in vectors.items()}},
            signed_in=True, excluding=True, limit=10, offset=0)

    def state(row):
        return (row.pk, row.image_id, row.distance, row.exact_distance, row.whole_distance, row.crop_distance,
                row.overlay_map, row.get_deferred_fields(), row.image.get_deferred_fields(),
                row.image.owner.username, row.image.title, row.image.visibility)

    assert [state(row) for row in got] == [state(row) for row in expected]
    assert {row.image.title for row in got} == {"p1", "p2"}  # bob's private p3 is not alice's to see


def test_another_users_private_photo_never_comes_back(make_user):
    """The nearest photo of all, someone else's private one, stays out of every page, signed in or
    not, from the first lookup to the last page (the prepared queries keep _visible_rows and
    visible_to the authority)."""
    alice, bob = make_user("alice"), make_user("bob")
    base = unit(np.ones(EMBEDDING_DIM))
    rng = np.random.default_rng(9)
    query = indexed_image(alice, base, visibility=Visibility.PUBLIC, title="query")
    secret = indexed_image(bob, base, title="bob private")  # the same vector: the nearest possible
    for i in range(6):
        indexed_image(bob, unit(base + 0.5 * rng.normal(size=EMBEDDING_DIM)), visibility=Visibility.PUBLIC,
                      title=f"bob public {i}")
    for viewer in (alice, AnonymousUser()):
        assert gallery_selectors.image_get_visible(viewer=viewer, image_id=secret.id) is None
        shown = []
        for offset in range(0, 8, 3):
            page = image_similar_page(viewer=viewer, image=query, limit=3, offset=offset)
            shown += [item.image.id for item in page.results]
        assert secret.id not in shown
        assert len(shown) == 6
    # Even a stale copy of the visibility on the embedding row, which the index part trusts, lets
    # nothing through: the photo row decides.
    ImageEmbedding.objects.filter(image=secret).update(visibility=Visibility.PUBLIC)
    page = image_similar_page(viewer=alice, image=query, limit=10)
    assert secret.id not in [item.image.id for item in page.results]
    assert gallery_selectors.image_get_visible(viewer=bob, image_id=secret.id) == secret


def test_a_changed_setting_is_a_value_not_baked_in(make_user, settings):
    """The configured model version is sent as a parameter, so a process that sees another
    (a test's settings) does not run the first one's SQL."""
    calls = []

    def build(*, version):
        calls.append(version)
        return first_row_queryset(ImageEmbedding.objects.filter(model_version=version))

    query = PreparedQuery(build, version=ImageEmbedding._meta.get_field("model_version"))
    assert query.sql_with_params(values={"version": "a"})[1] == ("a",)
    assert query.sql_with_params(values={"version": "b"})[1] == ("b",)
    assert len(calls) == 1  # compiled once


def test_a_placeholder_the_orm_rewrites_is_refused():
    query = PreparedQuery(lambda *, title: Image.objects.filter(title__icontains=title), title=TextField())
    with pytest.raises(ValueError, match="transformed"):
        query.compiled()

