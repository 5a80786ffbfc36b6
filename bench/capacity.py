"""Capacity table: photos -> database size, index size, RAM to keep the index hot, build time and
query latency, from bench/search.py runs, with sizes beyond the largest run extrapolated.

The app's indexes since the split similar-photos query (migrations inference/0007-0012): the
public photos' HNSW graph, which pages walk, and the owner B-tree of the non-public rows with
their half-precision vectors, of which a page reads its viewer's slice; the two together are
the search's vector indexes (issue 16's target: at most 480 MiB at 1M photos). bench/search.py
also builds an HNSW graph of every photo in its own database for its unfiltered query; the app
has none (0009 dropped it), so it is taken out of the database size and the build time, and
reported apart as what an all-public site's public graph would be: the same rows under the same
index definition (the unfiltered latencies are that site's too).

    .venv/bin/python bench/search.py --sizes 100000 ... > out-100k.json
    .venv/bin/python bench/search.py --sizes 1000000 ... > out-1m.json
    .venv/bin/python bench/capacity.py out-100k.json out-1m.json [--design halfvec:8:128]
                                       [--ef 200] [--split report] [--extrapolate 10000000]

Measured rows are copied from the runs. An extrapolated row (marked so) fits a power law
y = a * photos^b through the two largest measured sizes for each figure: sizes grow linearly
(b close to 1), an HNSW build slightly faster than linearly, query latency slowly. It is a line
through two points, not a measurement; the README says so next to the table.

Where the next step is needed, from the same figures:
* maintenance_work_mem for builds: the graph of a build must fit in it or the build slows down
  many times over (pgvector warns); compose gives 2 GB;
* a read replica for search: once the hot set no longer fits in the RAM of one server next to
  everything else (its upper bound: the public graph, the embedding table, whose public rows the
  graph's candidates are read from, and the owner B-tree, whose viewers' slices are read), or the
  query CPU (backend CPU per query x queries per second) exceeds its cores;
* partitioning by model version: during a re-index two versions' vectors share one index, and
  every search walks both graphs; once two indexes do not fit in shared_buffers, one partition
  (and index) per version keeps the serving version's hot.

Prints one JSON object (rows) and the Markdown table. Not a test: it never fails on a figure.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

MAINTENANCE_WORK_MEM_MB = 2048  # docker/compose.yml
SHARED_BUFFERS_MB = 2048  # docker/compose.yml


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", type=Path, nargs="+", help="JSON outputs of bench/search.py")
    parser.add_argument("--design", default="halfvec:8:128")
    parser.add_argument("--ef", type=int, default=200, help="hnsw.ef_search (search.selectors.HNSW_EF_SEARCH)")
    parser.add_argument("--split", default="report")
    parser.add_argument("--extrapolate", type=int, nargs="*", default=[10_000_000])
    args = parser.parse_args()

    rows = []
    for path in args.runs:
        report = json.loads(path.read_text().strip().splitlines()[-1])
        for size in report["sizes"]:
            rows.append(measured_row(size, design=args.design, ef=args.ef, split=args.split,
                                     load=report.get("load_average_1m_at_end")))
    rows.sort(key=lambda row: row["photos"])
    if len(rows) >= 2:
        for photos in args.extrapolate:
            if photos > rows[-1]["photos"]:
                rows.append(extrapolated_row(rows[-2], rows[-1], photos))
    for row in rows:
        row["next_step"] = next_steps(row)
    print(json.dumps({"design": args.design, "ef_search": args.ef, "rows": rows}))
    print(markdown(rows))


def measured_row(size: dict, *, design: str, ef: int, split: str, load) -> dict:
    found = next(d for d in size["designs"] if d["design"] == design)
    has_public_graph = "public_hnsw_index_mb" in found  # runs from before the split have one graph, the app's then

    def point(name: str) -> dict:
        return next(p for p in found["pgvector_hnsw"][name] if p["ef_search"] == ef and p.get("split", split) == split)

    unfiltered, filtered = point("unfiltered"), point("filtered")
    return {
        "photos": size["photos"], "extrapolated": False,
        # The app's database: the bench's, less the graph of every photo that only the bench builds.
        "database_mb": found["database_mb"] - (found["hnsw_index_mb"] if has_public_graph else 0),
        # The graph a page walks at random, so it stays hot. The owner B-tree of the split query is
        # in the database size, not here: a query reads one owner's slice.
        "index_mb": found["public_hnsw_index_mb"] if has_public_graph else found["hnsw_index_mb"],
        "owner_btree_mb": found.get("owner_btree_mb", 0),
        # As a site that grew row by row has it (pages about 2/3 full); runs before 0011 lack it.
        "owner_btree_grown_mb": size.get("owner_btree_grown_mb"),
        # An all-public site: its public graph holds every photo, as the bench's unfiltered one does.
        "all_public_index_mb": found["hnsw_index_mb"],
        "embedding_table_mb": size["embedding_table_mb"],
        "build_s": found["public_hnsw_build_s"] if has_public_graph else found["hnsw_build_s"],
        # Built (REINDEX) after the load since bench/search.py reports it; runs before that lack it.
        "owner_btree_build_s": size.get("owner_btree_build_s"),
        "all_public_build_s": found["hnsw_build_s"],
        "unfiltered_p50_ms": unfiltered["p50_ms"], "unfiltered_p95_ms": unfiltered["p95_ms"],
        "filtered_p50_ms": filtered["p50_ms"], "filtered_p95_ms": filtered["p95_ms"],
        "unfiltered_cpu_ms": unfiltered.get("backend_cpu_ms_per_query"),
        "filtered_cpu_ms": filtered.get("backend_cpu_ms_per_query"),
        "recall_at_10": unfiltered["recall_at_10"], "filtered_recall_at_10": filtered["recall_at_10"],
        "load_average_1m": found.get("load_average_1m", load),
    }


def extrapolated_row(smaller: dict, larger: dict, photos: int) -> dict:
    """Each figure on the power law through the two largest measured sizes."""
    row = {"photos": photos, "extrapolated": True}
    for key, value in larger.items():
        if key in row or not isinstance(value, int | float) or isinstance(value, bool) or "recall" in key \
                or key == "load_average_1m":
            continue
        low = smaller.get(key)
        if not low or not value:
            continue
        exponent = math.log(value / low) / math.log(larger["photos"] / smaller["photos"])
        row[key] = round(value * (photos / larger["photos"]) ** exponent, 1)
    return row


def next_steps(row: dict) -> list[str]:
    steps = []
    hot_mb = row["index_mb"] + row["embedding_table_mb"] + row.get("owner_btree_mb", 0)
    row["hot_set_mb"] = round(hot_mb)
    if row["index_mb"] > MAINTENANCE_WORK_MEM_MB:
        steps.append("maintenance_work_mem above the index size for builds (compose: 2 GB)")
    if 2 * row["index_mb"] > SHARED_BUFFERS_MB:
        steps.append("partition by model version (two versions' indexes exceed shared_buffers during a re-index)")
    if hot_mb > SHARED_BUFFERS_MB:
        steps.append("more RAM for the database, or a read replica for search"
                     " (graph + vectors + owner B-tree exceed 2 GB)")
    return steps


def markdown(rows: list[dict]) -> str:
    lines = ["| photos | database | search indexes: public graph + owner B-tree = total"
             " | RAM to keep search hot: graph / with vectors and owner B-tree | builds: graph + owner B-tree"
             " | all-public site: graph / build / p50 / p95 | filtered p50 / p95 | next step |",
             "|---|---|---|---|---|---|---|---|"]
    for row in rows:
        mark = " (extrapolated)" if row["extrapolated"] else ""
        lines.append(
            f"| {row['photos']:,}{mark} | {row['database_mb'] / 1024:.2f} GB | {row['index_mb']:.0f} MB"
            f" + {row['owner_btree_mb']:.0f} MB = {row['index_mb'] + row['owner_btree_mb']:.0f} MB | "
            f"{row['index_mb'] / 1024:.2f} / {row['hot_set_mb'] / 1024:.2f} GB | {row['build_s']:.0f} s"
            f" + {_seconds(row.get('owner_btree_build_s'))} | "
            f"{row['all_public_index_mb']:.0f} MB / {row['all_public_build_s']:.0f} s / "
            f"{row['unfiltered_p50_ms']:.1f} / {row['unfiltered_p95_ms']:.1f} ms | "
            f"{row['filtered_p50_ms']:.1f} / {row['filtered_p95_ms']:.1f} ms | "
            f"{'; '.join(row['next_step']) or '—'} |")
    return "\n".join(lines)


def _seconds(value) -> str:
    return "?" if value is None else f"{value:.0f} s"


if __name__ == "__main__":
    main()
