"""The similar-photos query's public part: an HNSW graph of public photos alone (README, "Search at
scale"), built CONCURRENTLY while search goes on from 0006's index.

If the build fails, PostgreSQL leaves ``embedding_public_half_hnsw`` behind as an INVALID index and
this migration stays unapplied; recover as for 0006 (its docstring; README, "Capacity"), with this
index's name:

    SELECT c.relname, i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
     WHERE c.relname = 'embedding_public_half_hnsw';          -- indisvalid = f
    DROP INDEX CONCURRENTLY embedding_public_half_hnsw;
    -- remove the cause, then: python manage.py migrate

Only drop it when indisvalid is false and no build is running (pg_stat_progress_create_index is
empty). Each index has a migration of its own so that this recovery is always the same two steps.
"""

import django.contrib.postgres.indexes
import django.db.models.functions.comparison
import pgvector.django
from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations
from django.db.models import Q


class Migration(migrations.Migration):
    # CONCURRENTLY: it cannot run inside a transaction, and photos keep being analysed meanwhile.
    atomic = False

    dependencies = [
        ("inference", "0006_embedding_vector_half_hnsw"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="imageembedding",
            index=pgvector.django.HnswIndex(
                django.contrib.postgres.indexes.OpClass(
                    django.db.models.functions.comparison.Cast(
                        "vector", output_field=pgvector.django.HalfVectorField(dimensions=128)),
                    name="halfvec_cosine_ops"),
                condition=Q(visibility="public"), ef_construction=128, m=8, name="embedding_public_half_hnsw"),
        ),
    ]
