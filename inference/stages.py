"""Where an analysis spends its time: wall and CPU milliseconds per named stage.

Pure Python (no Django, no TensorFlow), so the pipeline, the worker's service and the benchmarks
share one clock. CPU time is the whole process's (time.process_time), so work TensorFlow does on
its own threads is counted; on a busy machine wall exceeds CPU by the time spent waiting.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

#: The stages bench/ingest.py reports, in the order a photo goes through them.
STAGES = ("read", "decode", "resize", "saliency", "crop", "embed", "map_encode", "renditions", "storage", "database")
#: The stages that are the models themselves (model_share = their time over the whole analysis).
MODEL_STAGES = ("saliency", "embed")


class StageClock:
    """Accumulates wall and CPU milliseconds per stage; a stage entered twice adds up."""

    def __init__(self) -> None:
        self.wall_ms: dict[str, float] = {}
        self.cpu_ms: dict[str, float] = {}

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.wall_ms[name] = self.wall_ms.get(name, 0.0) + (time.perf_counter() - wall) * 1000
            self.cpu_ms[name] = self.cpu_ms.get(name, 0.0) + (time.process_time() - cpu) * 1000

    def merge(self, other: StageClock) -> None:
        for name, ms in other.wall_ms.items():
            self.wall_ms[name] = self.wall_ms.get(name, 0.0) + ms
        for name, ms in other.cpu_ms.items():
            self.cpu_ms[name] = self.cpu_ms.get(name, 0.0) + ms

    def timings_ms(self) -> dict[str, float]:
        """``{"<stage>_ms": wall, "<stage>_cpu_ms": cpu}`` for every stage entered (the stored shape)."""
        return {**{f"{name}_ms": ms for name, ms in self.wall_ms.items()},
                **{f"{name}_cpu_ms": ms for name, ms in self.cpu_ms.items()}}
