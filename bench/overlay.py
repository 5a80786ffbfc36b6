"""Heat-map overlay benchmark: milliseconds and bytes to draw an overlay from a stored map.

    .venv/bin/python bench/overlay.py [--repeat N]

Pages and the API draw every heat map on request from the stored 8-bit saliency map
(inference.images.overlay_rendition), so this is what each overlay request costs in the web
process on top of reading one small PNG. Maps are the training-free spectral model's, on made-up
photos (tests/conftest.py: scene_photo), stored the way the worker stores them; the learned
model's maps are as smooth. Also prints the encodings that were weighed against the one used
(RGBA instead of a palette, other zlib levels). Prints one JSON line; timings are medians.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import time

import _harness  # noqa: F401 - puts the project on sys.path
import PIL.Image


def median_ms(function, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return round(statistics.median(times) * 1000, 1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()

    from inference.images import THUMBNAILS, load_rgb, overlay_rendition, stored_map
    from inference.overlays import (
        _heat_indices,
        _outline_draw,
        _palette,
        _unit,
        saliency_map_png,
    )
    from inference.saliency.spectral import predict_saliency_spectral
    from tests.conftest import scene_photo

    result: dict = {"repeat": args.repeat, "load_average_1min": round(os.getloadavg()[0], 2)}
    for label, size in (("1024x768", (1024, 768)), ("320x240", (320, 240))):
        saliency = predict_saliency_spectral(load_rgb(scene_photo(3, size=size)))
        stored = saliency_map_png(stored_map(saliency))  # at most STORED_MAP_MAX_SIDE, as the worker does
        whole = overlay_rendition(stored)
        tile = overlay_rendition(stored, THUMBNAILS["square"])
        result[label] = {
            "whole_ms": median_ms(lambda stored=stored: overlay_rendition(stored), args.repeat),
            "whole_bytes": len(whole),
            "whole_size": list(PIL.Image.open(io.BytesIO(whole)).size),
            "square_tile_ms": median_ms(lambda stored=stored: overlay_rendition(stored, THUMBNAILS["square"]),
                                        args.repeat),
            "square_tile_bytes": len(tile),
        }
        if label == "1024x768":
            # Maps were stored at the working size (up to 1024 px) before issue 17: the same draws from one.
            full = saliency_map_png(saliency)
            result[label]["full_size_map"] = {
                "whole_ms": median_ms(lambda full=full: overlay_rendition(full), args.repeat),
                "square_tile_ms": median_ms(lambda full=full: overlay_rendition(full, THUMBNAILS["square"]),
                                            args.repeat),
                "map_bytes": len(full), "stored_map_bytes": len(stored),
            }
            sal = _unit(saliency)
            indices = _heat_indices(sal)
            _outline_draw(indices, sal)
            palette = _palette()
            image = PIL.Image.fromarray(indices, mode="P")
            image.putpalette(palette[:, :3].tobytes())
            rgba = PIL.Image.fromarray(palette[indices])
            encodings = {}
            for name, picture, extra in (("palette", image, {"transparency": palette[:, 3].tobytes()}),
                                         ("rgba", rgba, {})):
                for level in (1, 3, 6):
                    buffer = io.BytesIO()
                    picture.save(buffer, format="PNG", compress_level=level, **extra)
                    encodings[f"{name}_level{level}"] = {
                        "ms": median_ms(lambda p=picture, lv=level, e=extra: p.save(io.BytesIO(), format="PNG",
                                                                                       compress_level=lv, **e),
                                        max(5, args.repeat // 3)),
                        "bytes": buffer.tell(),
                    }
            result[label]["encodings"] = encodings
    print(json.dumps(result))


if __name__ == "__main__":
    main()
