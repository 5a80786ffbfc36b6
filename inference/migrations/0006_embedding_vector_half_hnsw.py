"""The half-precision HNSW index (README, "Capacity"), built CONCURRENTLY, then the float32 one dropped.

If the build fails (cancelled, a dropped connection, disk full, a vector that does not fit half
precision), PostgreSQL leaves ``embedding_vector_half_hnsw`` behind as an INVALID index, this
migration stays unapplied and the old index keeps serving search. Running migrate again alone
then fails ("already exists"). Recovery, as tests/deploy/test_upgrade.py does it:

    SELECT c.relname, i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
     WHERE c.relname = 'embedding_vector_half_hnsw';          -- indisvalid = f
    DROP INDEX CONCURRENTLY embedding_vector_half_hnsw;
    -- remove the cause, then: python manage.py migrate

Only drop it when indisvalid is false and no build is running (pg_stat_progress_create_index is
empty): an index being built is invalid too until its build finishes.
"""

import django.contrib.postgres.indexes
import django.db.models.functions.comparison
import pgvector.django
from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import migrations


class Migration(migrations.Migration):
    # CONCURRENTLY: search keeps answering from the old index while the new one is built (minutes
    # per million photos, README "Capacity"); it cannot run inside a transaction. The old index is
    # dropped only once the new one is valid. Give the migrating session a maintenance_work_mem
    # that holds the graph (README) or the build slows down many times over.
    atomic = False

    dependencies = [
        ("inference", "0005_analysis_worker"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="imageembedding",
            index=pgvector.django.HnswIndex(
                django.contrib.postgres.indexes.OpClass(
                    django.db.models.functions.comparison.Cast(
                        "vector", output_field=pgvector.django.HalfVectorField(dimensions=128)),
                    name="halfvec_cosine_ops"),
                ef_construction=128, m=8, name="embedding_vector_half_hnsw"),
        ),
        RemoveIndexConcurrently(
            model_name="imageembedding",
            name="embedding_vector_hnsw",
        ),
    ]
