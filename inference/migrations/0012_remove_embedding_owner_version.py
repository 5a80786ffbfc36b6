"""Drop 0008's owner B-tree (every row, float32 vector), CONCURRENTLY: the own-photos part reads
0011's since this release. Migrating back rebuilds it CONCURRENTLY as 0008 defined it."""

from django.contrib.postgres.operations import RemoveIndexConcurrently
from django.db import migrations


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("inference", "0011_embedding_owner_private"),
    ]

    operations = [
        RemoveIndexConcurrently(
            model_name="imageembedding",
            name="embedding_owner_version",
        ),
    ]
