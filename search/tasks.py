"""Celery tasks of the read side: thin adapters over search.services."""

from celery import shared_task

from inference.tasks import TRANSIENT_ERRORS


@shared_task(
    name="search.analyze_query",
    acks_late=True,
    autoretry_for=TRANSIENT_ERRORS,
    retry_backoff=1,
    max_retries=3,
    soft_time_limit=60,
    time_limit=90,
)
def similarity_query_analyze_task(query_id: str) -> None:
    from search.services import similarity_query_analyze

    similarity_query_analyze(query_id=query_id)


@shared_task(name="search.prune_queries", soft_time_limit=120, time_limit=180)
def similarity_queries_prune_task() -> None:
    from search.services import similarity_queries_prune

    similarity_queries_prune()
