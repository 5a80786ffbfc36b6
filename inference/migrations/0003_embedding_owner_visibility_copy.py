"""Copy each photo's owner and visibility onto its embeddings (the similar-photos filter runs on
the row the HNSW scan reads), and fill the copies for the vectors that exist already."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('gallery', '0001_initial'),
        ('inference', '0002_model_version_registry'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='imageembedding',
            name='owner',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddField(
            model_name='imageembedding',
            name='visibility',
            field=models.CharField(blank=True, choices=[('private', 'Private'), ('public', 'Public')], max_length=10, null=True),
        ),
        migrations.RunSQL(
            "UPDATE inference_imageembedding AS e SET owner_id = i.owner_id, visibility = i.visibility"
            " FROM gallery_image AS i WHERE i.id = e.image_id",
            reverse_sql=migrations.RunSQL.noop,
        ),
        migrations.AlterField(
            model_name='imageembedding',
            name='owner',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AlterField(
            model_name='imageembedding',
            name='visibility',
            field=models.CharField(choices=[('private', 'Private'), ('public', 'Public')], max_length=10),
        ),
    ]
