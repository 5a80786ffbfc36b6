"""image_analyze with the real models, the sweep, retries and the version rollout."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from django.core.files.storage import default_storage
from django.utils import timezone

from gallery import services as gallery_services
from gallery.models import AnalysisStatus, Image
from inference import services
from inference.configuration import configured_model_version
from inference.images import STORED_MAP_MAX_SIDE
from inference.models import ImageAnalysis, ImageEmbedding, ModelVersion
from inference.overlays import saliency_from_png
from inference.selectors import embedding_version_serving, image_analysis_shown
from inference.stages import STAGES
from inference.versions import EMBEDDING_DIM
from tests.conftest import photo_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def uploaded(make_user, django_capture_on_commit_callbacks):
    def upload(seed: int = 0, size=(320, 240), owner=None):
        with django_capture_on_commit_callbacks(execute=False):
            return gallery_services.image_create(owner=owner or make_user(), data=photo_bytes(seed, size=size),
                                                 filename=f"p{seed}.jpg")
    return upload


def test_analyze_writes_map_crop_timings_and_vectors(uploaded):
    image = uploaded(10, size=(640, 360))
    analysis = services.image_analyze(image_id=str(image.id))
    assert analysis.status == AnalysisStatus.DONE, analysis.error
    left, top, right, bottom = analysis.crop_box
    assert 0 <= left < right <= image.width and 0 <= top < bottom <= image.height
    saliency = saliency_from_png(default_storage.open(analysis.saliency_map.name).read())
    assert saliency.shape[1] / saliency.shape[0] == pytest.approx(640 / 360, rel=0.02)
    assert max(saliency.shape) == STORED_MAP_MAX_SIDE
    # The heat map is drawn on request from the stored map: no overlay file is made any more.
    assert not analysis.overlay and analysis.has_heatmap
    assert set(analysis.timings_ms) >= {f"{stage}_ms" for stage in STAGES} | {f"{stage}_cpu_ms" for stage in STAGES}
    assert "total_ms" in analysis.timings_ms
    embedding = ImageEmbedding.objects.get(image=image, model_version=configured_model_version())
    assert (embedding.owner_id, embedding.visibility) == (image.owner_id, image.visibility)  # search's copies
    for vector in (embedding.vector, embedding.whole_vector, embedding.crop_vector):
        assert len(vector) == EMBEDDING_DIM
        assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-4)


def test_analyze_records_the_worker_that_made_the_attempt(uploaded):
    image = uploaded(12)
    analysis = services.image_analyze(image_id=str(image.id), worker="worker-2@host-b")
    assert analysis.worker == "worker-2@host-b"


def test_analyze_twice_changes_nothing(uploaded):
    image = uploaded(11)
    first = services.image_analyze(image_id=str(image.id))
    vector = ImageEmbedding.objects.get(image=image).vector
    second = services.image_analyze(image_id=str(image.id))
    assert second.pk == first.pk and second.finished_at == first.finished_at
    assert ImageAnalysis.objects.count() == 1 and ImageEmbedding.objects.count() == 1
    assert np.array_equal(ImageEmbedding.objects.get(image=image).vector, vector)


def test_analyze_of_deleted_photo_returns_quietly():
    assert services.image_analyze(image_id="00000000-0000-0000-0000-000000000000") is None


def test_unreadable_file_fails_with_reason_and_can_be_retried(uploaded, django_capture_on_commit_callbacks):
    image = uploaded(12)
    stored = default_storage.open(image.file.name).read()
    default_storage.delete(image.file.name)
    default_storage.save(image.file.name, __import__("io").BytesIO(b"garbage"))
    analysis = services.image_analyze(image_id=str(image.id))
    assert analysis.status == AnalysisStatus.FAILED
    # Words for the photo's owner; Pillow's own ("cannot identify image file <_io.BytesIO ...>") is logged.
    assert analysis.error == "This file is not an image we can read (JPEG, PNG, WebP, GIF, BMP or TIFF)."
    image.refresh_from_db()
    assert image.analysis_error == analysis.error
    assert not ImageEmbedding.objects.filter(image=image).exists()

    default_storage.delete(image.file.name)
    default_storage.save(image.file.name, __import__("io").BytesIO(stored))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.analysis_retry(analysis=analysis)
    assert len(callbacks) == 1
    analysis.refresh_from_db()
    assert analysis.status == AnalysisStatus.PENDING and analysis.error == ""
    assert services.image_analyze(image_id=str(image.id)).status == AnalysisStatus.DONE


def test_sweep_queues_missing_and_stuck_analyses_only(uploaded, settings, django_capture_on_commit_callbacks):
    long_ago = timezone.now() - timedelta(seconds=settings.ANALYSIS_STUCK_SECONDS + 60)
    missing, stuck, fresh, done = (uploaded(s) for s in (20, 21, 22, 23))
    Image.objects.filter(id__in=[missing.id, stuck.id, done.id]).update(created=long_ago)
    ImageAnalysis.objects.create(image=stuck, model_version=configured_model_version(), status=AnalysisStatus.RUNNING,
                                 started_at=long_ago, attempts=1)
    services.image_analyze(image_id=str(done.id))

    with django_capture_on_commit_callbacks(execute=True):
        counts = services.analysis_sweep()
    assert counts["missing"] == 1 and counts["stuck"] == 1
    assert ImageAnalysis.objects.filter(image=missing, status=AnalysisStatus.PENDING).exists()
    assert not ImageAnalysis.objects.filter(image=fresh).exists(), "a fresh upload's own message is trusted"

    with django_capture_on_commit_callbacks(execute=True):
        assert services.analysis_sweep()["missing"] == 0, "a second sweep does not queue them again"


def test_new_version_builds_in_the_background_and_serves_once_activated(uploaded):
    first, second = uploaded(30), uploaded(31)
    for image in (first, second):
        services.image_analyze(image_id=str(image.id))
    assert embedding_version_serving() == configured_model_version(), (
        "a fresh install activates its first version itself")
    # Pretend those vectors were made by an older model: the configured version now has none.
    ImageAnalysis.objects.update(model_version="old-model")
    ImageEmbedding.objects.update(model_version="old-model")
    ModelVersion.objects.update(name="old-model")
    assert embedding_version_serving() == "old-model"
    assert image_analysis_shown(image_id=first.id).model_version == "old-model", "old maps show meanwhile"

    for image in (first, second):
        services.image_analyze(image_id=str(image.id))
    assert embedding_version_serving() == "old-model", "complete, but switching is the operator's call"
    services.model_version_activate(name=configured_model_version())
    assert embedding_version_serving() == configured_model_version()
    assert image_analysis_shown(image_id=first.id).model_version == configured_model_version()
    assert ImageEmbedding.objects.filter(model_version="old-model").count() == 2, "kept for a roll-back"


def test_broken_configured_model_keeps_serving_with_the_fallback(uploaded, settings, tmp_path, make_user):
    """SALIENCY_MODEL=msinet-vgg16 without its SavedModel: the worker analyses with the default
    model, stores results under the version that made them, and search serves those."""
    from search.selectors import image_similar_list

    default_version = configured_model_version()
    settings.SALIENCY_MODEL = "msinet-vgg16"
    settings.SALIENCY_VGG16_PATH = tmp_path / "never-fetched"
    services.pipeline_get.cache_clear()
    try:
        owner = make_user()
        first, second = uploaded(40, owner=owner), uploaded(41, owner=owner)
        analyses = [services.image_analyze(image_id=str(image.id)) for image in (first, second)]
    finally:
        services.pipeline_get.cache_clear()
    assert {a.status for a in analyses} == {AnalysisStatus.DONE}
    assert {a.model_version for a in analyses} == {default_version}, "the default model made them"
    assert [r.image for r in image_similar_list(viewer=owner, image=first)] == [second]


def test_a_file_cut_short_in_storage_fails_with_words_not_library_text(uploaded):
    image = uploaded(14, size=(640, 480))
    stored = default_storage.open(image.file.name).read()
    default_storage.delete(image.file.name)
    default_storage.save(image.file.name, __import__("io").BytesIO(stored[: len(stored) // 2]))
    analysis = services.image_analyze(image_id=str(image.id))
    assert analysis.status == AnalysisStatus.FAILED
    assert "seems to be cut short" in analysis.error
    assert "bytes not processed" not in analysis.error and "OSError" not in analysis.error


def test_an_analysis_started_max_attempts_times_is_failed_instead_of_started_again(
    uploaded, settings, django_capture_on_commit_callbacks
):
    """What a photo that kills its worker looks like when Celery hands its job back once more
    (tests/faults/test_poison_photos.py does it with a real worker)."""
    image = uploaded(15)
    died = timezone.now() - timedelta(seconds=5)
    ImageAnalysis.objects.create(image=image, model_version=configured_model_version(), status=AnalysisStatus.RUNNING,
                                 attempts=settings.ANALYSIS_MAX_ATTEMPTS, started_at=died)
    analysis = services.image_analyze(image_id=str(image.id))
    assert (analysis.status, analysis.attempts) == (AnalysisStatus.FAILED, settings.ANALYSIS_MAX_ATTEMPTS)
    assert analysis.started_at == died, "not started again"
    assert analysis.error == services.analysis_gave_up_message(settings.ANALYSIS_MAX_ATTEMPTS)
    image.refresh_from_db()
    assert (image.analysis_status, image.analysis_error) == ("failed", analysis.error)
    assert not ImageEmbedding.objects.filter(image=image).exists()

    # Retry: the attempts start over and the photo is analysed.
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.analysis_retry(analysis=analysis)
    assert len(callbacks) == 1
    analysis.refresh_from_db()
    assert (analysis.status, analysis.attempts, analysis.error) == (AnalysisStatus.PENDING, 0, "")
    analysis = services.image_analyze(image_id=str(image.id))
    assert (analysis.status, analysis.attempts) == (AnalysisStatus.DONE, 1)


def test_sweep_gives_up_a_stuck_analysis_after_max_attempts_and_says_so_on_the_photo(
    uploaded, settings, django_capture_on_commit_callbacks
):
    long_ago = timezone.now() - timedelta(seconds=settings.ANALYSIS_STUCK_SECONDS + 60)
    lost, retried = uploaded(16), uploaded(17)
    ImageAnalysis.objects.create(image=lost, model_version=configured_model_version(), status=AnalysisStatus.RUNNING,
                                 attempts=settings.ANALYSIS_MAX_ATTEMPTS, started_at=long_ago)
    ImageAnalysis.objects.create(image=retried, model_version=configured_model_version(), status=AnalysisStatus.RUNNING,
                                 attempts=settings.ANALYSIS_MAX_ATTEMPTS - 1, started_at=long_ago)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        counts = services.analysis_sweep()
    assert (counts["gave_up"], counts["stuck"], len(callbacks)) == (1, 1, 1)
    analysis = ImageAnalysis.objects.get(image=lost)
    assert analysis.status == AnalysisStatus.FAILED
    assert analysis.error == services.analysis_gave_up_message(settings.ANALYSIS_MAX_ATTEMPTS)
    lost.refresh_from_db()
    assert (lost.analysis_status, lost.analysis_error) == ("failed", analysis.error)
    assert ImageAnalysis.objects.get(image=retried).status == AnalysisStatus.PENDING


def test_only_the_start_of_an_analysis_commits_without_waiting_for_disk(uploaded):
    """The start's commits may be lost by a PostgreSQL crash (the sweep queues the photo again);
    the final write, which deletes replaced thumbnails after commit, must stay durable, and the
    worker's connection must not keep the setting for its next job."""
    from django.db import connection

    image = uploaded(12)
    seen = []

    def record(execute, sql, params, many, context):
        with context["connection"].connection.cursor() as cursor:
            cursor.execute("SHOW synchronous_commit")
            seen.append((cursor.fetchone()[0], sql))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        analysis = services.image_analyze(image_id=str(image.id))
    assert analysis.status == AnalysisStatus.DONE, analysis.error
    # (SAVEPOINTs: the test's own transaction around the service's atomic blocks.)
    statements = [(setting, sql) for setting, sql in seen if not sql.startswith(("SET ", "SAVEPOINT", "RELEASE"))]
    final_write = next(i for i, (_, sql) in enumerate(statements) if "FOR UPDATE" in sql)  # locks the photo
    assert {setting for setting, _ in statements[:final_write]} == {"off"}, statements
    assert {setting for setting, _ in statements[final_write:]} == {"on"}, statements
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == "on"
