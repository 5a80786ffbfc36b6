"""Embedding benchmark: the per-photo analysis cost of the old and the new default embedder, one run.

    .venv/bin/python bench/embed.py [--pairs N] [--folder DIR] [--models lite0-p128,lite0-vw128]
        [--head HEAD.npz[,HEAD2.npz]] [--backbones lite1,lite2] [--intra-op N] [--inter-op N]

For each embedding model (EMBEDDING_MODEL names; --head adds trained heads), times
``Pipeline.analyze`` (saliency + crop + both embeddings, what a worker pays per photo) and
``Embedder.embed([photo], crops=[crop])`` as the pipeline calls it. Models take turns photo by photo, so
load on the shared machine hits them alike; the first model listed is the baseline of the ratios.
Photos are generated (1024x768 JPEGs, decoded) unless --folder is given; each is paired with a
seeded crop of 40-90% of its sides, passed as a numpy view like the pipeline does. After a warm-up,
prints one JSON line with medians, p95 and the load average. Thread counts of 0 mean TensorFlow's
default (one per core). Not a test: it never fails on a time.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def load_photos(folder: Path | None, count: int) -> list[np.ndarray]:
    if folder:
        files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in {".jpg", ".jpeg", ".png"})[:count]
        blobs = [p.read_bytes() for p in files]
    else:
        from tests.conftest import photo_bytes

        blobs = [photo_bytes(2000 + i, size=(1024, 768)) for i in range(count)]
    return [np.asarray(Image.open(io.BytesIO(blob)).convert("RGB")) for blob in blobs]


def seeded_crop(photo: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    height, width = photo.shape[:2]
    crop_h, crop_w = (int(side * rng.uniform(0.4, 0.9)) for side in (height, width))
    top, left = rng.integers(0, height - crop_h + 1), rng.integers(0, width - crop_w + 1)
    return photo[top : top + crop_h, left : left + crop_w]


def _stand_in_registered(backbone: str) -> str:
    """Register an embedding model on another backbone, for this process only, to time it."""
    from dataclasses import replace

    from inference import versions
    from inference.embedding import embedder
    from inference.embedding.backbone import LITE_VARIANTS

    name = f"{backbone}-stand-in"
    versions.EMBEDDING_VERSIONS[name] = f"{name}-not-served"
    served = embedder.EMBEDDING_MODELS["lite0-vw128"]
    embedder.EMBEDDING_MODELS[name] = replace(served, backbone=LITE_VARIANTS[backbone])
    return name


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--folder", type=Path, help="read photos from here instead of generating them")
    parser.add_argument("--intra-op", type=int, default=0)
    parser.add_argument("--inter-op", type=int, default=0)
    default_cache = Path(os.environ.get("MODEL_CACHE_DIR", ROOT / "var" / "models"))
    parser.add_argument("--cache-dir", type=Path, default=default_cache)
    parser.add_argument("--models", default="lite0-p128,lite0-vw128",
                        help="comma-separated EMBEDDING_MODEL names; the first is the baseline of the ratios")
    parser.add_argument("--head", default="",
                        help="also time the embedder with these trained head files (comma-separated), each named "
                             "'head <its folder>'")
    parser.add_argument("--backbones", default="",
                        help="also time these EfficientNet-Lite variants (e.g. lite1,lite2) as '<name>-stand-in': "
                             "lite0-vw128's projection on their features: right shapes, meaningless vectors, "
                             "cost only")
    args = parser.parse_args()

    import tensorflow as tf

    # Must happen before TensorFlow creates its thread pools, i.e. before the first op.
    tf.config.threading.set_intra_op_parallelism_threads(args.intra_op)
    tf.config.threading.set_inter_op_parallelism_threads(args.inter_op)

    from inference.pipeline import Pipeline

    models = args.models.split(",")
    for backbone in filter(None, args.backbones.split(",")):
        models.append(_stand_in_registered(backbone))
    pipelines = {name: Pipeline(args.cache_dir, embedding_model=name) for name in models}
    for head in filter(None, args.head.split(",")):
        pipelines[f"head {Path(head).parent.name}"] = Pipeline(args.cache_dir, embedding_head=head)
    photos = load_photos(args.folder, args.pairs)
    if not photos:
        raise SystemExit(f"no photos found in {args.folder}")
    rng = np.random.default_rng(0)
    pairs = [[photo, seeded_crop(photo, rng)] for photo in photos]

    for pipeline in pipelines.values():
        for photo, crop in pairs[: args.warmup]:
            pipeline.analyze(photo)
            pipeline.embedder.embed([photo], crops=[crop])
    analysis_ms = {name: [] for name in pipelines}
    embed_ms = {name: [] for name in pipelines}
    load_before = os.getloadavg()
    for photo, crop in pairs:
        for name, pipeline in pipelines.items():
            start = time.perf_counter()
            pipeline.analyze(photo)
            analysis_ms[name].append((time.perf_counter() - start) * 1000)
            start = time.perf_counter()
            pipeline.embedder.embed([photo], crops=[crop])
            embed_ms[name].append((time.perf_counter() - start) * 1000)

    def summary(times: list[float]) -> dict:
        return {"median_ms": round(float(np.median(times)), 2), "p95_ms": round(float(np.percentile(times, 95)), 2)}

    baseline = next(iter(pipelines))
    print(
        json.dumps(
            {
                "bench": "embed",
                "n": len(pairs),
                "models": {
                    name: {"version": pipeline.embedder.version, "analysis": summary(analysis_ms[name]),
                           "embed_photo_and_crop": summary(embed_ms[name])}
                    for name, pipeline in pipelines.items()
                },
                "analysis_ratio_to_" + baseline: {
                    name: round(float(np.median(analysis_ms[name]) / np.median(analysis_ms[baseline])), 3)
                    for name in pipelines
                },
                "embed_ratio_to_" + baseline: {
                    name: round(float(np.median(embed_ms[name]) / np.median(embed_ms[baseline])), 3)
                    for name in pipelines
                },
                "photos": str(args.folder) if args.folder else "generated 1024x768",
                "loadavg_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
                "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
                "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
                "cpu_count": os.cpu_count(),
            }
        )
    )


if __name__ == "__main__":
    main()
