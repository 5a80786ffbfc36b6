"""The new default embedder is a rollout, as the README's "Rolling out a new model" says: an
install serving lite0-vw128 vectors changes EMBEDDING_MODEL (or takes the new default) and restarts
its workers; the sweep analyses every photo again in the background while search keeps the old
vectors; Activate switches; Roll back returns to the old vectors, which were kept."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from django.utils import timezone

from gallery import services as gallery_services
from gallery.models import Image
from inference import selectors, services
from inference.configuration import configured_model_version
from inference.models import ImageAnalysis, ImageEmbedding
from inference.versions import DEFAULT_EMBEDDING_MODEL, EMBEDDING_VERSIONS
from tests.conftest import photo_bytes

pytestmark = pytest.mark.django_db


def workers_restarted() -> None:
    """What restarting a worker does to its models: the next job loads the configured ones."""
    services.pipeline_get.cache_clear()


def test_switching_to_the_new_default_embedder_reindexes_in_the_background(
        make_user, settings, django_capture_on_commit_callbacks):
    from search.selectors import image_similar_list

    assert DEFAULT_EMBEDDING_MODEL == "lite0-vw128-mirror", "the default the README documents"
    owner = make_user()
    settings.EMBEDDING_MODEL = "lite0-vw128"  # an install from before the new default
    workers_restarted()
    try:
        with django_capture_on_commit_callbacks(execute=False):
            photos = [gallery_services.image_create(owner=owner, data=photo_bytes(60 + n, size=(320, 240)),
                                                    filename=f"r{n}.jpg") for n in range(3)]
        for photo in photos:
            services.image_analyze(image_id=str(photo.id))
        Image.objects.update(created=timezone.now() - timedelta(days=1))  # an install's photos are not fresh uploads
        old = configured_model_version()
        assert old.endswith("+" + EMBEDDING_VERSIONS["lite0-vw128"]) and selectors.embedding_version_serving() == old
        similar_before = [r.image for r in image_similar_list(viewer=owner, image=photos[0])]

        # 1. Change the setting and restart the workers: their sweep registers the new version
        #    and marks every photo, while search keeps the active (old) version.
        settings.EMBEDDING_MODEL = "lite0-vw128-mirror"
        workers_restarted()
        new = configured_model_version()
        assert new.endswith("+lite0-imagenet-vw128-mirror-v1") and new != old
        with django_capture_on_commit_callbacks(execute=False) as queued:
            swept = services.analysis_sweep(version=new)
        assert swept["missing"] == len(photos) and len(queued) >= 1, swept
        assert selectors.embedding_version_serving() == old
        for photo in photos[:2]:  # the workers are part-way
            services.image_analyze(image_id=str(photo.id))
        assert selectors.embedding_version_serving() == old, "nobody sees a mix of versions"
        assert [r.image for r in image_similar_list(viewer=owner, image=photos[0])] == similar_before

        # 2. Coverage reaches 100%; 3. Activate.
        services.image_analyze(image_id=str(photos[2].id))
        assert selectors.version_coverage(name=new).complete
        services.model_version_activate(name=new)
        assert selectors.embedding_version_serving() == new
        assert {r.image for r in image_similar_list(viewer=owner, image=photos[0])} == set(photos[1:])
        old_vector = ImageEmbedding.objects.get(image=photos[0], model_version=old).vector
        new_vector = ImageEmbedding.objects.get(image=photos[0], model_version=new).vector
        assert len(new_vector) == len(old_vector) and not np.allclose(new_vector, old_vector, atol=1e-3)
        assert ImageAnalysis.objects.filter(model_version=new).count() == len(photos), "one row per photo"

        # 4. Roll back: search returns to the old vectors at once, they were kept.
        assert services.model_version_rollback().name == old
        assert selectors.embedding_version_serving() == old
    finally:
        workers_restarted()
