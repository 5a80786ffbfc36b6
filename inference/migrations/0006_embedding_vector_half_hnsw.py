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
