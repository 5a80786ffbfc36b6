"""Saliency benchmark: median milliseconds per 240x320 photo, SaliencyModel.predict as the pipeline
calls it (canvas fit, network, crop and resize back), for the default msinet-lite0 and for the
paper's VGG16 MSI-Net (random weights, exported and served as a SavedModel exactly like the
authors' model), in one run on the same machine.

    .venv/bin/python bench/saliency.py [--runs N] [--warmup N]

Prints one JSON line. Not a test: it never fails on a time.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def median_ms(predict, photos: list[np.ndarray], runs: int, warmup: int) -> float:
    for photo in photos[:warmup]:
        predict(photo)
    times = []
    for i in range(runs):
        photo = photos[i % len(photos)]
        start = time.perf_counter()
        saliency = predict(photo)
        times.append((time.perf_counter() - start) * 1000)
        assert saliency.shape == photo.shape[:2]
    return round(float(np.median(times)), 1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--vgg16-runs", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    default_cache = Path(os.environ.get("MODEL_CACHE_DIR", ROOT / "var" / "models"))
    parser.add_argument("--cache-dir", type=Path, default=default_cache)
    args = parser.parse_args()

    from inference.saliency.models import Lite0Saliency, SavedModelSaliency, SpectralSaliency
    from inference.saliency.msinet import build_msinet_vgg16, savedmodel_export
    from tests.conftest import photo_bytes

    photos = [np.asarray(Image.open(io.BytesIO(photo_bytes(3000 + i, size=(320, 240))))) for i in range(8)]
    result = {"photo": "240x320", "cpu_count": os.cpu_count()}
    result["msinet-lite0_ms"] = median_ms(Lite0Saliency(args.cache_dir).predict, photos, args.runs, args.warmup)
    with tempfile.TemporaryDirectory() as tmp:
        savedmodel_export(build_msinet_vgg16(), Path(tmp) / "vgg16")
        vgg16 = SavedModelSaliency(Path(tmp) / "vgg16")
        result["msinet-vgg16_ms"] = median_ms(vgg16.predict, photos, args.vgg16_runs, args.warmup)
    result["spectral_ms"] = median_ms(SpectralSaliency().predict, photos, args.runs, args.warmup)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
