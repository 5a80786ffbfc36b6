"""The similar-photos query's own-photos part: a B-tree on (owner, model version) that carries
what that part reads (visibility, image, id, vector), so a person's photos are scanned without
reading their rows; built CONCURRENTLY. A failed build is recovered as 0007's (its docstring), with the name
``embedding_owner_version``."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("inference", "0007_embedding_public_half_hnsw"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="imageembedding",
            index=models.Index(fields=["owner", "model_version"], include=["visibility", "image", "id", "vector"],
                               name="embedding_owner_version"),
        ),
    ]
