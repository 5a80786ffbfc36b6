"""Celery tasks: thin adapters over inference.services. No model code is imported here, so
the web process can enqueue without loading TensorFlow."""

from celery import shared_task
from celery.signals import worker_process_init
from django.db import InterfaceError, OperationalError

# Database hiccups are worth retrying; a photo that cannot be decoded is not (it is marked failed).
TRANSIENT_ERRORS = (OperationalError, InterfaceError, ConnectionError)


@shared_task(
    name="inference.analyze_image",
    bind=True,
    acks_late=True,
    autoretry_for=TRANSIENT_ERRORS,
    retry_backoff=2,
    retry_jitter=True,
    max_retries=5,
    soft_time_limit=120,  # one photo takes well under a second once models are loaded
    time_limit=180,
)
def image_analyze_task(self, image_id: str) -> None:
    from inference.services import image_analyze

    # The node name ("name@host", celery worker -n): which machine analysed the photo.
    image_analyze(image_id=image_id, worker=self.request.hostname or "")


@shared_task(name="inference.analysis_sweep", soft_time_limit=300, time_limit=360)
def analysis_sweep_task() -> None:
    from inference.services import analysis_sweep, pipeline_get

    # The version this worker's models make (the configured one, or its fallback if it is broken).
    analysis_sweep(version=pipeline_get().version)


@shared_task(name="inference.model_version_prune", acks_late=True, soft_time_limit=3000, time_limit=3600)
def model_version_prune_task(name: str) -> None:
    from inference.services import model_version_prune_run

    model_version_prune_run(name=name)


@worker_process_init.connect
def _load_models_in_worker_child(**_kwargs) -> None:
    # Load TensorFlow after the fork (never before it) and before the first photo arrives.
    from inference.services import pipeline_get

    pipeline_get()
