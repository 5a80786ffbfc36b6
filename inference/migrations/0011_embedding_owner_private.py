"""The similar-photos query's own-photos part, smaller: a B-tree on (owner, model version) of the
non-public rows only (public ones come from the public graph), carrying the half-precision vector
of 0010 instead of the float32 one, built CONCURRENTLY next to 0008's, which search keeps using
until 0012 drops it. A failed build is recovered as 0007's (its docstring), with the name
``embedding_owner_private``."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models
from django.db.models import Q


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("inference", "0010_embedding_vector_half"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="imageembedding",
            index=models.Index(fields=["owner", "model_version"], include=["image", "id", "vector_half"],
                               condition=~Q(visibility="public"), name="embedding_owner_private"),
        ),
    ]
