"""TEST-ONLY fault injection: a photo whose analysis kills the worker process running it.

Loaded only into a Celery worker started with ``--include tests.faults.poison`` (as
tests/faults/test_poison_photos.py does); nothing else imports it, so no production worker can
ever run it. In that worker, decoding a file that contains POISON_MARKER (a JPEG comment the
test writes into the photo's original bytes) does what an out-of-memory kill or a crash in a
native decoder does: the process dies with SIGKILL, mid-analysis, after the attempt was counted.
Everything else (broker, database, Celery's pool and its redelivery) is real.
"""

from __future__ import annotations

import os
import signal

from inference import images, services

POISON_MARKER = b"saliency-gallery-test-poison-7c1e"

_load_rgb = images.load_rgb


def _load_rgb_or_die(data: bytes, **kwargs):
    if POISON_MARKER in data:
        os.kill(os.getpid(), signal.SIGKILL)
    return _load_rgb(data, **kwargs)


# Both names the workers decode through: inference.services (photos) imported it at import time;
# search.services (searches) looks it up in inference.images on every call.
images.load_rgb = _load_rgb_or_die
services.load_rgb = _load_rgb_or_die
