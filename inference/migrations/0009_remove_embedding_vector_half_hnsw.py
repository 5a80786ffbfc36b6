"""Drop the HNSW graph of every photo (``embedding_vector_half_hnsw``, migration 0006),
CONCURRENTLY: no query of the app walks it since the similar-photos query was split by index
(0007 and 0008; README, "Search at scale"), whose parts walk the public photos' graph and read the
owner B-tree (``tests/search/test_similar.py`` checks the plans). Kept, it cost every analysed
photo an HNSW insertion, and at 1M photos 446 MB of disk and of ``shared_buffers`` if it was to
stay warm, and 3-8 minutes to build (README, "Capacity"). An installation upgrading from before
0006 still builds it there and drops it here: 0006 is left as released.

Migrating back (``python manage.py migrate inference 0008``) rebuilds it with ``CREATE INDEX
CONCURRENTLY`` from 0006's definition: give that session a ``maintenance_work_mem`` that holds
the graph (about 0.45 GB per million photos) or the build slows down many times over. An operator
who wants the graph back only for ad hoc queries over every photo (what ``bench/search.py`` calls
unfiltered) can rather build it by hand under another name, which Django and its migrations do
not know and leave alone; an ad hoc ``ORDER BY vector::halfvec(128) <=> %s LIMIT n`` uses it:

    SET maintenance_work_mem = '1GB';
    CREATE INDEX CONCURRENTLY embedding_vector_half_hnsw_adhoc ON inference_imageembedding
     USING hnsw ((vector::halfvec(128)) halfvec_cosine_ops) WITH (m = 8, ef_construction = 128);

Every insert then maintains it again. A failed build leaves an INVALID index: DROP INDEX
CONCURRENTLY it (0006's docstring). Drop it the same way when done.
"""

from django.contrib.postgres.operations import RemoveIndexConcurrently
from django.db import migrations


class Migration(migrations.Migration):
    # CONCURRENTLY: search and analyses go on while the index is dropped (and, backwards, while
    # it is rebuilt); it cannot run inside a transaction.
    atomic = False

    dependencies = [
        ("inference", "0008_embedding_owner_version"),
    ]

    operations = [
        RemoveIndexConcurrently(
            model_name="imageembedding",
            name="embedding_vector_half_hnsw",
        ),
    ]
