"""Nearest-neighbour reads: one pgvector query over the photos the viewer may see."""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.db import connection, transaction
from django.db.models import OuterRef, Q, Subquery, TextField, Value
from pgvector import Vector
from pgvector.django import CosineDistance

from gallery.heatmaps import overlay_page_url_of
from gallery.models import Image, Visibility
from gallery.platform.prepared import PreparedQuery, first_row_queryset
from gallery.selectors import visible_to
from inference.configuration import configured_model_version
from inference.models import ImageAnalysis, ImageEmbedding, search_vector_half
from inference.selectors import embedding_version_serving_expression
from search.models import SimilarityQuery

# HNSW search breadth. With a visibility filter, iterative scan keeps walking the graph until
# enough visible rows are found instead of returning fewer than asked (pgvector >= 0.8).
# bench/search.py at 1M photos (--seed 1, "report" query set), half-precision index m 8 /
# ef_construction 128: ef_search 200 gives recall@10 0.9925 unfiltered and 0.9955 filtered
# (the float32 index m 16 / 64 it replaced: 0.9865 and 0.983). 150 met the bench's bar too
# (0.982) but let tests/search's uniform-noise case, the hardest for a graph with 8 links per
# node, fall under its 0.9 recall floor in one build out of three (README, "Capacity").
HNSW_EF_SEARCH = 200
HNSW_ITERATIVE_SCAN = "relaxed_order"
# Below this many vectors of a version the planner is kept off index scans, so a page comes from an
# exact scan (a few milliseconds at this size) and finds every photo. HNSW does not promise that:
# with m 8 a small graph can leave a photo unreachable. 28 photos inserted one by one, searched with
# ef_search 200 and iterative scan: 6 graphs in 150 missed one or more photos with m 8, none with
# m 16 (ad hoc, closing note of the session that adopted m 8).
EXACT_SEARCH_BELOW = 2000
# How long a process trusts that a version holds EXACT_SEARCH_BELOW vectors or more before it
# counts again. The count costs the server 0.4 ms of CPU a page at 1M photos, against 0.05 ms for
# the settings alone (README, "Capacity"), and a version only falls back under the line by mass
# deletion, after which a minute of HNSW pages is what every page of a large gallery gets anyway.
LARGE_VERSION_RECOUNT_SECONDS = 60.0
_large_version_counted_at: dict[str, float] = {}
# Columns of an embedding row that a results page never reads.
RESULT_ROW_DEFERRED = ("vector", "whole_vector", "crop_vector", "vector_half")
# What a result shows of its photo and owner: the tiles (templates/search/_similar_tiles.html) and
# the API's photo summary (gallery.api.photos.PhotoSummarySerializer). The rest of the two rows
# (file names, hashes, the owner's password hash and last login) is never read, and the cached
# tiles are keyed by what was loaded (gallery.platform.fragments), so a log-in by a result's
# owner no longer makes every page that shows their photos render its tiles again.
RESULT_PHOTO_COLUMNS = ("image__id", "image__owner", "image__title", "image__visibility", "image__width",
                        "image__height", "image__created", "image__taken_at", "image__analysis_status",
                        "image__display", "image__thumbnail_square", "image__thumbnail_wide",
                        "image__owner__username")


def hnsw_session_settings(*, wanted: int = 0) -> dict[str, object]:
    """What every similar-photos query runs under (SET LOCAL; bench/search.py measures the same),
    for a page that ends at row ``wanted``."""
    return {"hnsw.ef_search": max(HNSW_EF_SEARCH, min(wanted, 1000)), "hnsw.iterative_scan": HNSW_ITERATIVE_SCAN}


def ranking_distance(vector):
    """What the query orders by: cosine distance in half precision, the expression the HNSW index
    is built on (inference.models.search_vector_half). bench/search.py swaps it to measure the
    float32 design next to it."""
    return CosineDistance(search_vector_half(), vector)


class Match:
    WHOLE = "whole"
    CROP = "crop"


@dataclass(frozen=True)
class SimilarImage:
    image: Image
    similarity: float  # cosine similarity of the search vectors, 1 = same direction
    whole_similarity: float  # whole photo against whole photo
    crop_similarity: float  # salient crop against salient crop
    overlay_url: str | None

    @property
    def match(self) -> str:
        """Which embedding made the match: the one whose similarity is higher."""
        return Match.CROP if self.crop_similarity > self.whole_similarity else Match.WHOLE


@dataclass(frozen=True)
class SimilarPage:
    results: list[SimilarImage]
    offset: int
    has_more: bool

    @property
    def next_offset(self) -> int:
        return self.offset + len(self.results)


def image_similar_queryset(*, viewer, vector, model_version: str, exclude_image_id=None, limit: int,
                           offset: int = 0, whole_vector=None, crop_vector=None):
    """The similar-photos query (also used by the EXPLAIN tests): the nearest public photos and
    the nearest of the viewer's own other photos, each part ORDER BY distance LIMIT n on an index
    made for it, merged by distance.

    One HNSW scan of every photo with the visibility test as its filter rejects about 16
    candidates for each visible one when 6 % are visible, each rejection a row read (11 ms p95 at
    1M photos). Split instead (README, "Search at scale"):

    * public photos: a graph of them alone (``embedding_public_half_hnsw``, a partial index),
      where only rows of another model version can fail the filter;
    * the viewer's own non-public photos: an exact scan of their rows, read from a partial B-tree
      on (owner, version) of the non-public rows that carries the stored half-precision vector
      (``embedding_owner_private``, an index-only scan). It ranks by that column, on which there
      is no HNSW index, so PostgreSQL cannot choose to walk a graph of every photo rejecting
      everyone else's (0006's did, until 0009 dropped it); and an exact scan misses none of a
      person's own photos. Its WHERE must imply the index's (NOT visibility = 'public'), or the
      planner cannot use the index (tests/search/test_similar.py checks the plan).

    Visibility is tested on the embedding's copies of the photo's owner and visibility; callers
    keep only rows whose photo the viewer may see (``_visible_rows``): the photo row is the
    authority, the copies choose the index.
    """
    wanted = offset + limit
    nearest = _nearest_rows(ImageEmbedding.objects.filter(model_version=model_version, visibility=Visibility.PUBLIC),
                            distance=ranking_distance(vector), exclude_image_id=exclude_image_id, wanted=wanted)
    if viewer.is_authenticated:
        own = (ImageEmbedding.objects.filter(model_version=model_version, owner=viewer)
               .exclude(visibility=Visibility.PUBLIC))  # the viewer's public photos come from the public part
        nearest = nearest.union(_nearest_rows(own, distance=CosineDistance("vector_half", vector),
                                              exclude_image_id=exclude_image_id, wanted=wanted), all=True)
    qs = (
        ImageEmbedding.objects.filter(pk__in=nearest)
        .select_related("image", "image__owner")
        # The rows' own vectors are never read (distances are computed in SQL): 3 x 128 floats a
        # row sent as text and parsed back by Django cost the web process 0.6-2.5 ms a page and
        # the server a few tenths (README, "Capacity").
        .only("image", "model_version", "owner", "visibility", *RESULT_PHOTO_COLUMNS)
        .annotate(distance=ranking_distance(vector), overlay_map=_overlay_map(model_version))
    )
    if whole_vector is not None:
        # Computed only for the rows the LIMIT returns: they explain a match and show it at full
        # precision (the ranking distance is half precision), they do not rank.
        qs = qs.annotate(exact_distance=CosineDistance("vector", vector),
                         whole_distance=CosineDistance("whole_vector", whole_vector),
                         crop_distance=CosineDistance("crop_vector", crop_vector))
    return qs.order_by("distance")[offset : offset + limit]


def _nearest_rows(rows, *, distance, exclude_image_id, wanted: int):
    """Ids of the ``wanted`` rows nearest by ``distance``: ORDER BY distance LIMIT n."""
    if exclude_image_id is not None:
        rows = rows.exclude(image_id=exclude_image_id)
    return rows.annotate(distance=distance).order_by("distance").values("pk")[:wanted]


def image_similar_page(*, viewer, image: Image, limit: int = 24, offset: int = 0) -> SimilarPage | None:
    """Photos most like ``image`` among the viewer's own and everyone's public photos.

    None when the photo has no vector of the serving version yet (its analysis is not done).
    """
    # The serving version and the photo's vectors of it in one query.
    source = _SOURCE_VECTORS.first(values={"image": image, "configured_version": configured_model_version()})
    if source is None:
        return None
    return _similar_page(viewer=viewer, vectors=source, version=source.model_version, exclude_image_id=image.id,
                         limit=limit, offset=offset)


def image_similar_list(*, viewer, image: Image, limit: int = 24) -> list[SimilarImage] | None:
    page = image_similar_page(viewer=viewer, image=image, limit=limit)
    return None if page is None else page.results


def query_similar_page(*, viewer, query: SimilarityQuery, limit: int = 24, offset: int = 0) -> SimilarPage | None:
    """Results of a search with an outside photo or a region; None until the worker is done.

    A region search leaves out the photo it was drawn on (it would always come first).
    """
    if query.vector is None:
        return None
    return _similar_page(viewer=viewer, vectors=query, version=query.model_version,
                         exclude_image_id=query.source_image_id, limit=limit, offset=offset)


def similarity_query_get(*, viewer, query_id) -> SimilarityQuery | None:
    """The one rule for who sees a search, called by every door (its page, status, results and
    photo; the API): only the person who made it, and for a region search only while they may
    still see the photo it was drawn on. A photo made private since is gone from its searches too."""
    if not viewer.is_authenticated:
        return None
    return (SimilarityQuery.objects.filter(owner=viewer, id=query_id)
            .filter(Q(source_image__isnull=True) | visible_to(viewer, via="source_image__"))
            .select_related("source_image").first())


def _similar_page(*, viewer, vectors, version: str, exclude_image_id, limit: int, offset: int) -> SimilarPage:
    # One row more than asked says whether another page exists.
    wanted = offset + limit + 1
    values = {"viewer": viewer, "model_version": version, "exclude_image_id": exclude_image_id,
              **{name: Vector(getattr(vectors, name)).to_text() for name in ("vector", "whole_vector", "crop_vector")}}
    with transaction.atomic():
        with connection.cursor() as cursor:
            search_session_set(cursor, version=version, wanted=wanted)
        rows = _RANKING.list(values=values, signed_in=viewer.is_authenticated,
                             excluding=exclude_image_id is not None, limit=limit + 1, offset=offset)
    rows = _visible_rows(rows, viewer)
    has_more = len(rows) > limit
    rows = rows[:limit]
    # relaxed_order may return neighbours slightly out of order; these distances are exact.
    rows.sort(key=lambda row: row.exact_distance)
    results = [
        SimilarImage(image=row.image, similarity=1.0 - float(row.exact_distance),
                     whole_similarity=1.0 - float(row.whole_distance), crop_similarity=1.0 - float(row.crop_distance),
                     overlay_url=None if row.overlay_map is None else overlay_page_url_of(image_id=row.image_id,
                                                                                        map_name=row.overlay_map))
        for row in rows
    ]
    return SimilarPage(results=results, offset=offset, has_more=has_more)


def _ranking_queryset(*, viewer, vector, whole_vector, crop_vector, model_version, exclude_image_id,
                      signed_in: bool, excluding: bool, limit: int, offset: int):
    # The vectors are placeholders here: passed as the text the ORM would send for an array.
    return image_similar_queryset(
        viewer=viewer if signed_in else AnonymousUser(), vector=Value(vector), model_version=model_version,
        exclude_image_id=exclude_image_id if excluding else None, limit=limit, offset=offset,
        whole_vector=Value(whole_vector), crop_vector=Value(crop_vector))


# The ranking query of every results page, built and compiled once per process and shape (the
# ORM took ~1.8 ms of the web process's CPU a page to build it: gallery.platform.prepared).
_RANKING = PreparedQuery(
    _ranking_queryset, viewer=get_user_model(), model_version=ImageEmbedding._meta.get_field("model_version"),
    exclude_image_id=Image._meta.pk, vector=TextField(), whole_vector=TextField(), crop_vector=TextField())


def _source_vectors_queryset(*, image, configured_version):
    return first_row_queryset(
        ImageEmbedding.objects.filter(image=image,
                                      model_version=embedding_version_serving_expression(configured_version))
        .only("model_version", "vector", "whole_vector", "crop_vector"))


_SOURCE_VECTORS = PreparedQuery(_source_vectors_queryset, image=Image,
                                configured_version=ImageEmbedding._meta.get_field("model_version"))


def search_session_set(cursor, *, version: str, wanted: int) -> None:
    """hnsw_session_settings as SET LOCAL, in one statement; with fewer than EXACT_SEARCH_BELOW
    vectors of ``version`` index scans are also turned off for the transaction (an exact scan).
    A version this process counted as large within LARGE_VERSION_RECOUNT_SECONDS is not counted."""
    settings = hnsw_session_settings(wanted=wanted)
    hnsw = [str(settings["hnsw.ef_search"]), settings["hnsw.iterative_scan"]]
    counted_at = _large_version_counted_at.get(version)
    if counted_at is not None and time.monotonic() - counted_at < LARGE_VERSION_RECOUNT_SECONDS:
        cursor.execute("SELECT set_config('hnsw.ef_search', %s, true), set_config('hnsw.iterative_scan', %s, true)",
                       hnsw)
        return
    cursor.execute(
        "SELECT set_config('hnsw.ef_search', %s, true), set_config('hnsw.iterative_scan', %s, true),"
        " set_config('enable_indexscan', CASE WHEN (SELECT count(*) FROM (SELECT 1 FROM"
        f" {ImageEmbedding._meta.db_table} WHERE model_version = %s LIMIT %s) AS few) < %s"
        " THEN 'off' ELSE 'on' END, true)",
        [*hnsw, version, EXACT_SEARCH_BELOW, EXACT_SEARCH_BELOW],
    )
    if cursor.fetchone()[2] == "on":
        _large_version_counted_at[version] = time.monotonic()
    else:
        _large_version_counted_at.pop(version, None)


def large_versions_forget() -> None:
    """Count every version again on its next page (tests: each starts from an emptied database)."""
    _large_version_counted_at.clear()


def _visible_rows(rows: list, viewer) -> list:
    """The photo row decides: a copy gone stale (a write that bypassed the services) may cost a
    result, never show a private photo to someone else."""
    viewer_id = viewer.pk if viewer.is_authenticated else None
    return [row for row in rows if row.image.visibility == Visibility.PUBLIC or row.image.owner_id == viewer_id]


def _overlay_map(version: str) -> Subquery:
    """The stored map's name of the row's analysis of ``version`` ("" for an analysis with only its
    older overlay PNG), NULL when it has no heat map: in the ranking query, one index lookup for
    each row the LIMIT returns, instead of a second query and a model per result."""
    with_heatmap = (ImageAnalysis.objects.filter(image_id=OuterRef("image_id"), model_version=version)
                    .exclude(saliency_map="", overlay=""))
    return Subquery(with_heatmap.values("saliency_map")[:1])
