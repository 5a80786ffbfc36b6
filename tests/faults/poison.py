"""TEST-ONLY fault injection: a photo whose analysis kills the worker process running it.

Two switches, both only in tests/faults/test_poison_photos.py: the worker is started with
``--include tests.faults.poison`` (no production worker imports anything under tests/) and with
GALLERY_TEST_POISON=1 in its environment. In that worker, decoding a file that contains
POISON_MARKER (a JPEG comment the test writes into the photo's original bytes) does what an
out-of-memory kill or a crash in a native decoder does: the process dies with SIGKILL,
mid-analysis, after the attempt was counted. Everything else (broker, database, Celery's pool
and its redelivery) is real. Importing this module anywhere else (the test imports the marker)
changes nothing.
"""

from __future__ import annotations

import os
import signal

POISON_MARKER = b"saliency-gallery-test-poison-7c1e"
SWITCH = "GALLERY_TEST_POISON"


def _install() -> None:
    from inference import images

    decode_upright = images.decode_upright

    def decode_upright_or_die(data: bytes):
        if POISON_MARKER in data:
            os.kill(os.getpid(), signal.SIGKILL)
        return decode_upright(data)

    # Photos and searches both decode through inference.services.stored_photo_analyze, which looks
    # decode_upright up in inference.images on every call.
    images.decode_upright = decode_upright_or_die


if os.environ.get(SWITCH) == "1":
    _install()
