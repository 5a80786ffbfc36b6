"""Re-index marks, the batched sweep, the version registry (activate, roll back, prune) and the
admin pages and command that drive them. Plumbing: rows are written directly, no model runs."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import numpy as np
import pytest
from django.contrib.admin.models import LogEntry
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from django.utils import timezone

from gallery.models import AnalysisStatus, Image, Visibility
from inference import selectors, services
from inference.configuration import configured_model_version
from inference.models import ImageAnalysis, ImageEmbedding, ModelVersion, VersionStatus
from inference.services import ReindexScope, VersionSwitchError
from inference.versions import EMBEDDING_DIM

pytestmark = pytest.mark.django_db

OLD, NEW = "old-sal+old-emb", "new-sal+new-emb"


def photo_rows(owner, count: int, **fields) -> list[Image]:
    return Image.objects.bulk_create([
        Image(owner=owner, file=f"images/{n}.jpg", content_type="image/jpeg", sha256=f"{n:064x}", size_bytes=1,
              width=4, height=3, title=f"photo {n}", **fields)
        for n in range(count)
    ])


def analysed(images, version: str, status=AnalysisStatus.DONE, **fields) -> None:
    now = timezone.now()
    ImageAnalysis.objects.bulk_create([
        ImageAnalysis(image=image, model_version=version, status=status, finished_at=now,
                      timings_ms={"total_ms": 100.0 + i}, **fields)
        for i, image in enumerate(images)
    ])
    if status == AnalysisStatus.DONE:
        v = np.ones(EMBEDDING_DIM, dtype=np.float32) / np.sqrt(EMBEDDING_DIM)
        ImageEmbedding.objects.bulk_create([
            ImageEmbedding(image=image, model_version=version, vector=v, whole_vector=v, crop_vector=v,
                           owner_id=image.owner_id, visibility=image.visibility)
            for image in images
        ])


@pytest.fixture
def no_broker(django_capture_on_commit_callbacks):
    """Collects what would be sent to the broker instead of sending it."""
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        yield callbacks


# --- marks and the sweep -------------------------------------------------------------------------


def test_marks_by_scope(make_user, no_broker):
    images = photo_rows(make_user(), 6)
    analysed(images[:2], NEW)
    analysed(images[2:3], NEW, status=AnalysisStatus.FAILED, error="boom", attempts=3)

    failed = services.reindex_mark(version=NEW, scope=ReindexScope.FAILED)
    assert failed.marked == 1
    assert ImageAnalysis.objects.get(image=images[2]).is_marked

    missing = services.reindex_mark(version=NEW, scope=ReindexScope.MISSING)
    assert missing.marked == 3, "the three photos without a row"
    assert ImageAnalysis.objects.filter(model_version=NEW, status=AnalysisStatus.DONE).count() == 2
    assert services.reindex_mark(version=NEW, scope=ReindexScope.MISSING).marked == 0, "marking twice adds nothing"

    everything = services.reindex_mark(version=NEW, scope=ReindexScope.ALL)
    assert everything.marked == 6
    assert ImageAnalysis.objects.filter(model_version=NEW).count() == 6, "no duplicate rows"
    assert ImageEmbedding.objects.filter(model_version=NEW).count() == 2, "done vectors keep serving until replaced"
    assert ModelVersion.objects.get(name=NEW).status == VersionStatus.BUILDING


def test_selected_photos_only(make_user, no_broker):
    images = photo_rows(make_user(), 4)
    result = services.reindex_mark(version=NEW, scope=ReindexScope.ALL, image_ids=[str(images[1].id)])
    assert result.marked == 1
    assert list(ImageAnalysis.objects.values_list("image_id", flat=True)) == [images[1].id]


def test_bad_scope_is_refused(no_broker):
    with pytest.raises(ValueError, match="scope must be one of"):
        services.reindex_mark(version=NEW, scope="everything")


def test_sweep_works_through_marks_in_bounded_batches(make_user, no_broker, django_capture_on_commit_callbacks):
    images = photo_rows(make_user(), 25)
    services.reindex_mark(version=NEW, scope=ReindexScope.ALL)

    with django_capture_on_commit_callbacks(execute=False) as jobs:
        first = services.analysis_sweep(version=NEW, batch=10)
    assert first["queued"] == 10 and len(jobs) == 10
    # Nothing finished yet: ten are in flight, so the next sweep adds nothing (the broker never floods).
    assert services.analysis_sweep(version=NEW, batch=10)["queued"] == 0

    ImageAnalysis.objects.filter(model_version=NEW, queued_at__isnull=False).update(
        status=AnalysisStatus.DONE, finished_at=timezone.now())
    assert services.analysis_sweep(version=NEW, batch=10)["queued"] == 10
    ImageAnalysis.objects.filter(model_version=NEW, queued_at__isnull=False).update(status=AnalysisStatus.DONE)
    assert services.analysis_sweep(version=NEW, batch=10)["queued"] == 5
    assert ImageAnalysis.objects.filter(model_version=NEW).count() == len(images)
    assert ModelVersion.objects.get(name=NEW).workers_seen_at is not None
    assert selectors.version_built_by_workers() == NEW


def test_sweep_requeues_a_dead_workers_job_and_gives_up_after_max_attempts(make_user, settings, no_broker):
    long_ago = timezone.now() - timedelta(seconds=settings.ANALYSIS_STUCK_SECONDS + 5)
    dying, hopeless = photo_rows(make_user(), 2)
    ImageAnalysis.objects.create(image=dying, model_version=NEW, status=AnalysisStatus.RUNNING,
                                 started_at=long_ago, attempts=1)
    ImageAnalysis.objects.create(image=hopeless, model_version=NEW, status=AnalysisStatus.RUNNING,
                                 started_at=long_ago, attempts=settings.ANALYSIS_MAX_ATTEMPTS)
    counts = services.analysis_sweep(version=NEW)
    assert (counts["stuck"], counts["gave_up"]) == (1, 1)
    requeued = ImageAnalysis.objects.get(image=dying)
    assert requeued.status == AnalysisStatus.PENDING and requeued.queued_at > long_ago
    assert services.analysis_sweep(version=NEW)["stuck"] == 0, "in flight again, not stuck"
    gave_up = ImageAnalysis.objects.get(image=hopeless)
    assert gave_up.status == AnalysisStatus.FAILED and "Stopped after" in gave_up.error


# --- the registry: activate, roll back, prune --------------------------------------------------------


def test_fresh_install_activates_its_first_version(make_user):
    assert selectors.embedding_version_serving() == configured_model_version(), "nothing active yet: the configured one"
    assert services.model_version_activate_first(name=NEW)
    assert selectors.embedding_version_serving() == NEW
    assert not services.model_version_activate_first(name=OLD), "later switches are explicit"


def test_activate_refuses_incomplete_unless_forced_and_rollback_returns(make_user):
    images = photo_rows(make_user(), 4)
    analysed(images, OLD)
    services.model_version_activate_first(name=OLD)
    analysed(images[:3], NEW)
    services.model_version_register(name=NEW)

    with pytest.raises(VersionSwitchError, match="covers 3 of 4"):
        services.model_version_activate(name=NEW)
    assert selectors.embedding_version_serving() == OLD

    services.model_version_activate(name=NEW, force=True)
    assert selectors.embedding_version_serving() == NEW
    assert ModelVersion.objects.filter(status=VersionStatus.ACTIVE).count() == 1
    assert ModelVersion.objects.get(name=OLD).status == VersionStatus.RETIRED

    assert services.model_version_rollback().name == OLD
    assert selectors.embedding_version_serving() == OLD
    assert ImageEmbedding.objects.filter(model_version=NEW).count() == 3, "rolled-back vectors are kept too"


def test_rollback_without_a_previous_version_says_so():
    with pytest.raises(VersionSwitchError, match="no previous version"):
        services.model_version_rollback()


def test_prune_deletes_rows_and_files_but_never_the_active_version(make_user, django_capture_on_commit_callbacks):
    images = photo_rows(make_user(), 3)
    analysed(images, OLD)
    analysed(images, NEW)
    services.model_version_activate_first(name=NEW)
    services.model_version_register(name=OLD)
    name = default_storage.save("analysis/old/overlay.png", ContentFile(b"png"))
    ImageAnalysis.objects.filter(image=images[0], model_version=OLD).update(overlay=name)

    with pytest.raises(VersionSwitchError, match="is active"):
        services.model_version_prune(name=NEW)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert services.model_version_prune(name=OLD).status == VersionStatus.PRUNING
    assert len(callbacks) == 1, "the deletion runs as a background task"
    with django_capture_on_commit_callbacks(execute=True):
        assert services.model_version_prune_run(name=OLD, batch=2) == 3
    assert not ImageAnalysis.objects.filter(model_version=OLD).exists()
    assert not ImageEmbedding.objects.filter(model_version=OLD).exists()
    assert not default_storage.exists(name)
    assert ModelVersion.objects.get(name=OLD).status == VersionStatus.PRUNED
    assert ImageEmbedding.objects.filter(model_version=NEW).count() == 3
    with pytest.raises(VersionSwitchError, match="pruned"):
        services.model_version_activate(name=OLD, force=True)


# --- selectors ---------------------------------------------------------------------------------------


def test_coverage_and_median(make_user, no_broker):
    images = photo_rows(make_user(), 5)
    analysed(images[:3], NEW)  # total_ms 100, 101, 102
    analysed(images[3:4], NEW, status=AnalysisStatus.FAILED, error="bad file")
    services.model_version_register(name=NEW)
    row = next(r for r in selectors.model_version_list() if r.version.name == NEW)
    assert (row.coverage.done, row.coverage.failed, row.coverage.total) == (3, 1, 5)
    assert row.coverage.percent == 80.0 and not row.coverage.complete
    assert row.median_ms == 101.0


def broker_queues_purge() -> None:
    """Empty both worker queues (app.control.purge only knows the default queue)."""
    from gallery.config.celery import app

    with app.connection_for_write() as conn:
        for name in selectors.worker_queues():
            conn.default_channel.queue_purge(name)


def test_queue_lengths_come_from_the_real_broker():
    from inference.tasks import analysis_sweep_task, image_analyze_task

    broker_queues_purge()
    try:
        for _ in range(3):
            image_analyze_task.delay("00000000-0000-0000-0000-000000000000")
        analysis_sweep_task.delay()
        lengths, error = selectors.broker_queue_lengths()
        assert error == "" and lengths["inference"] == 3 and lengths["default"] == 1
    finally:
        broker_queues_purge()


# --- admin -----------------------------------------------------------------------------------------


def test_versions_page_and_progress_json(admin_client, make_user, no_broker):
    images = photo_rows(make_user(), 4)
    analysed(images, OLD)
    services.model_version_activate_first(name=OLD)
    analysed(images[:1], NEW)
    services.model_version_register(name=NEW)

    page = admin_client.get("/admin/inference/modelversion/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "Force activate (3 photos unfinished)" in html and "25.0%" in html
    assert 'data-progress-url="/admin/inference/modelversion/progress.json"' in html
    progress = admin_client.get("/admin/inference/modelversion/progress.json").json()
    by_name = {v["name"]: v for v in progress["versions"]}
    assert progress["serving"] == OLD
    assert (by_name[NEW]["done"], by_name[NEW]["total"], by_name[NEW]["percent"]) == (1, 4, 25.0)


def test_non_staff_cannot_reach_the_admin_pages(client, make_user):
    user = make_user()
    client.force_login(user)
    for url in ("/admin/inference/modelversion/", "/admin/inference/modelversion/progress.json",
                "/admin/inference/modelversion/jobs/"):
        response = client.get(url)
        assert response.status_code == 302 and "/admin/login/" in response["Location"], url
    response = client.post("/admin/inference/modelversion/reindex/", {"scope": "all", "version": NEW})
    assert response.status_code == 302 and not ImageAnalysis.objects.exists()


def test_admin_reindex_activate_and_rollback_are_logged(admin_client, admin_user, make_user, no_broker,
                                                        django_capture_on_commit_callbacks):
    images = photo_rows(make_user(), 2)
    analysed(images, OLD)
    services.model_version_activate_first(name=OLD)
    services.analysis_sweep(version=NEW)  # what a worker building NEW records

    with django_capture_on_commit_callbacks(execute=False) as sent:
        response = admin_client.post("/admin/inference/modelversion/reindex/", {"scope": "all", "version": NEW},
                                     follow=True)
    assert "Marked 2 photo(s) for analysis with new-sal+new-emb" in response.content.decode()
    assert len(sent) == 1, "one sweep task, not one job per photo, from the web request"
    new = ModelVersion.objects.get(name=NEW)

    response = admin_client.post(f"/admin/inference/modelversion/{new.pk}/activate/", follow=True)
    assert "covers 0 of 2 photos" in response.content.decode()
    assert selectors.embedding_version_serving() == OLD
    admin_client.post(f"/admin/inference/modelversion/{new.pk}/activate/", {"force": "1"})
    assert selectors.embedding_version_serving() == NEW
    admin_client.post("/admin/inference/modelversion/rollback/")
    assert selectors.embedding_version_serving() == OLD

    history = list(LogEntry.objects.filter(user=admin_user).order_by("id").values_list("object_repr", "change_message"))
    assert history == [
        (NEW, "Re-index (all): marked 2 photo(s)."),
        (NEW, "Activated by force at 0.0% coverage."),
        (OLD, "Rolled back to this version."),
    ]


def test_reindex_of_a_version_the_workers_do_not_build_warns(admin_client, make_user, no_broker):
    photo_rows(make_user(), 1)
    services.analysis_sweep(version=NEW)
    services.model_version_register(name=OLD)
    response = admin_client.post("/admin/inference/modelversion/reindex/", {"scope": "missing", "version": OLD},
                                 follow=True)
    assert "The workers build new-sal+new-emb, not this version" in response.content.decode()


def test_jobs_dashboard_shows_failures_and_retries_them(admin_client, admin_user, make_user, no_broker,
                                                        django_capture_on_commit_callbacks):
    images = photo_rows(make_user(), 3)
    analysed(images[:1], NEW)
    analysed(images[1:2], NEW, status=AnalysisStatus.FAILED, error="OSError: truncated file", attempts=3)
    ModelVersion.objects.create(name=NEW, workers_seen_at=timezone.now())  # the workers build NEW
    ImageAnalysis.objects.create(image=images[2], model_version=NEW, status=AnalysisStatus.RUNNING,
                                 started_at=timezone.now())
    page = admin_client.get("/admin/inference/modelversion/jobs/").content.decode()
    assert "OSError: truncated file" in page
    assert '<td class="done-last-hour">1</td>' in page and '<td class="failed-last-hour">1</td>' in page
    assert '<td class="running-count">1</td>' in page
    assert '<td class="queue-inference">' in page

    failed = ImageAnalysis.objects.get(status=AnalysisStatus.FAILED)
    with django_capture_on_commit_callbacks(execute=False) as sent:
        admin_client.post(f"/admin/inference/modelversion/jobs/retry/{failed.pk}/")
    failed.refresh_from_db()
    assert (failed.status, failed.error, failed.attempts) == (AnalysisStatus.PENDING, "", 0)
    assert len(sent) == 1
    assert LogEntry.objects.get(user=admin_user).change_message == "Retried."


def test_admin_index_links_the_background_work(admin_client):
    html = admin_client.get("/admin/").content.decode()
    assert 'href="/admin/inference/modelversion/jobs/"' in html
    assert 'href="/admin/inference/modelversion/"' in html


def test_photo_list_shows_thumbnail_status_version_and_error(admin_client, make_user, no_broker,
                                                             django_assert_max_num_queries):
    owner = make_user("owner")
    images = photo_rows(owner, 30, visibility=Visibility.PRIVATE)
    analysed(images[:29], NEW)
    analysed(images[29:], NEW, status=AnalysisStatus.FAILED, error="UnidentifiedImageError: not a photo")
    with django_assert_max_num_queries(12):  # the same with 30 photos as with 3: no query per row
        html = admin_client.get("/admin/gallery/image/").content.decode()
    assert html.count('class="admin-thumbnail"') == 30
    assert f'src="/admin/gallery/image/{images[0].id}/thumbnail/"' in html
    assert "failed: <span class=\"error-text\">UnidentifiedImageError: not a photo</span>" in html
    assert NEW in html and "owner" in html
    filtered = admin_client.get("/admin/gallery/image/?analyses__status=failed").content.decode()
    assert filtered.count('class="admin-thumbnail"') == 1


def test_photo_reanalyse_action_marks_and_logs(admin_client, admin_user, make_user, no_broker):
    images = photo_rows(make_user(), 3)
    analysed(images, configured_model_version())
    admin_client.post("/admin/gallery/image/", {"action": "reanalyse",
                                                "_selected_action": [str(images[0].id), str(images[1].id)]})
    assert ImageAnalysis.objects.filter(status=AnalysisStatus.PENDING, queued_at__isnull=True).count() == 2
    assert LogEntry.objects.filter(user=admin_user).count() == 2


# --- the command -----------------------------------------------------------------------------------


def test_command_marks_and_warns_about_a_version_nobody_builds(make_user, no_broker):
    images = photo_rows(make_user(), 3)
    analysed(images[:1], NEW, status=AnalysisStatus.FAILED, error="x")
    out, err = StringIO(), StringIO()
    call_command("reindex", "--failed", "--version", NEW, stdout=out, stderr=err)
    assert "Marked 1 photo(s) for new-sal+new-emb (failed)." in out.getvalue()
    assert "is not the version the workers build" in err.getvalue()
    with pytest.raises(CommandError, match="would never finish"):
        call_command("reindex", "--version", NEW, "--wait", stdout=StringIO(), stderr=StringIO())


def test_command_wait_reports_progress_and_gives_up_on_timeout(make_user, no_broker):
    photo_rows(make_user(), 2)
    with pytest.raises(CommandError, match=r"0 done, 0 failed, 2 unfinished of 2 photos.*Gave up waiting"):
        call_command("reindex", "--all", "--wait", "--timeout", "0.2", "--poll", "0.1",
                     stdout=StringIO(), stderr=StringIO())
    assert ImageAnalysis.objects.filter(model_version=configured_model_version()).count() == 2, "the marks stay"


@pytest.mark.django_db(transaction=True)
def test_upgrade_registers_stored_versions_and_activates_the_one_that_served():
    """An install from before the registry: its versions get rows and the version with the most
    vectors (what search used under the old rule) is active, so search does not change."""
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    executor.migrate([("inference", "0001_initial")])
    gallery_now = [node for node in executor.loader.graph.leaf_nodes() if node[0] == "gallery"]
    before = [("inference", "0001_initial"), *gallery_now]
    old_apps = executor.loader.project_state(before).apps
    User = old_apps.get_model("auth", "User")
    OldImage = old_apps.get_model("gallery", "Image")
    owner = User.objects.create(username="legacy")
    images = [OldImage.objects.create(owner=owner, file=f"images/{n}.jpg", content_type="image/jpeg",
                                      sha256=f"{n:064x}", size_bytes=1, width=4, height=3) for n in range(3)]
    v = [1.0] * EMBEDDING_DIM
    for version, photos in ((OLD, images), (NEW, images[:1])):
        for image in photos:
            old_apps.get_model("inference", "ImageAnalysis").objects.create(image=image, model_version=version,
                                                                            status="done")
            old_apps.get_model("inference", "ImageEmbedding").objects.create(
                image=image, model_version=version, vector=v, whole_vector=v, crop_vector=v)

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
    assert dict(ModelVersion.objects.values_list("name", "status")) == {OLD: "active", NEW: "building"}
    assert selectors.embedding_version_serving() == OLD


def test_admin_thumbnail_serves_any_photo_to_staff_only(admin_client, client, make_user, no_broker):
    from gallery import services as gallery_services
    from tests.conftest import photo_bytes

    owner = make_user("private-owner")
    image = gallery_services.image_create(owner=owner, data=photo_bytes(3), filename="p.jpg")
    response = admin_client.get(f"/admin/gallery/image/{image.id}/thumbnail/")
    assert response.status_code == 200 and b"".join(response.streaming_content)[:2] == b"\xff\xd8"
    client.force_login(make_user("someone"))
    assert client.get(f"/admin/gallery/image/{image.id}/thumbnail/").status_code == 302


def test_sweep_now_is_queued_for_a_worker_and_logged(admin_client, admin_user, make_user, no_broker):
    services.analysis_sweep(version=NEW)  # a worker building NEW has swept before
    broker_queues_purge()
    try:
        admin_client.post("/admin/inference/modelversion/jobs/sweep/")
        assert selectors.broker_queue_lengths()[0]["default"] == 1, "one sweep message for a worker"
    finally:
        broker_queues_purge()
    assert LogEntry.objects.get(user=admin_user).change_message == "Ran the sweep."


def test_reindex_with_the_broker_down_keeps_the_marks(make_user, monkeypatch, django_capture_on_commit_callbacks,
                                                      caplog):
    from kombu.exceptions import OperationalError

    from inference.tasks import analysis_sweep_task

    def broker_down(*args, **kwargs):
        raise OperationalError("Error 111 connecting to the broker. Connection refused.")

    # Plumbing: what a refused connection raises when a task is sent.
    monkeypatch.setattr(analysis_sweep_task, "delay", broker_down)
    photo_rows(make_user(), 2)
    with django_capture_on_commit_callbacks(execute=True):
        result = services.reindex_mark(version=NEW, scope=ReindexScope.ALL)
    assert result.marked == 2
    assert ImageAnalysis.objects.filter(model_version=NEW, queued_at__isnull=True).count() == 2
    assert "could not queue a sweep now" in caplog.text


def test_retry_of_a_version_the_workers_do_not_build_waits_for_its_workers(admin_client, make_user, no_broker,
                                                                         django_capture_on_commit_callbacks):
    image, = photo_rows(make_user(), 1)
    analysed([image], OLD, status=AnalysisStatus.FAILED, error="boom")
    services.analysis_sweep(version=NEW)  # the running workers build NEW
    failed = ImageAnalysis.objects.get(model_version=OLD)
    with django_capture_on_commit_callbacks(execute=False) as sent:
        page = admin_client.post(f"/admin/inference/modelversion/jobs/retry/{failed.pk}/", follow=True)
    assert "is not the one the workers build" in page.content.decode()
    assert sent == [], "a NEW worker would not make an OLD analysis: nothing is queued"
    assert ImageAnalysis.objects.get(pk=failed.pk).is_marked, "the mark waits for OLD's workers and their sweep"
    assert services.analysis_sweep(version=OLD)["queued"] == 1


def test_the_analysis_shown_follows_the_active_version(make_user, django_assert_num_queries):
    images = photo_rows(make_user(), 3)
    analysed(images, OLD)
    analysed(images, NEW)
    ids = [image.id for image in images]
    with django_assert_num_queries(1):  # whatever the page's length, and with no active version yet
        assert {a.model_version for a in selectors.image_analyses_shown(image_ids=ids).values()} == {NEW}
    services.model_version_activate_first(name=OLD)
    assert {a.model_version for a in selectors.image_analyses_shown(image_ids=ids).values()} == {OLD}
    assert selectors.image_analysis_shown(image_id=ids[0]).model_version == OLD
    services.model_version_register(name=NEW)
    services.model_version_activate(name=NEW)
    assert selectors.image_analysis_shown(image_id=ids[0]).model_version == NEW
