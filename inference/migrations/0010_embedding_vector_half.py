"""A stored half-precision copy of the search vector (``vector_half``), computed by PostgreSQL on
every write, for the owner B-tree of 0011 to carry (INCLUDE takes columns, not expressions).

Adding a stored generated column rewrites the table and its indexes under an ACCESS EXCLUSIVE
lock: no search and no analysis while it runs, 53 s at 1M photos on 2 busy cores (README, "Search
at scale"). Plan it for a quiet moment on a large installation. The rows keep their size class at
today's layout (4 a page with or without the 264 bytes), so the table does not grow. Migrating
back drops the column (after 0012 and 0011).
"""

import django.db.models.functions.comparison
import pgvector.django
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("inference", "0009_remove_embedding_vector_half_hnsw"),
    ]

    operations = [
        migrations.AddField(
            model_name="imageembedding",
            name="vector_half",
            field=models.GeneratedField(
                db_persist=True,
                expression=django.db.models.functions.comparison.Cast(
                    "vector", pgvector.django.HalfVectorField(dimensions=128)),
                output_field=pgvector.django.HalfVectorField(dimensions=128)),
        ),
    ]
