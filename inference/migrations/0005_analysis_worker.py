from django.db import migrations, models


class Migration(migrations.Migration):
    # A database default: adding the column rewrites nothing (PostgreSQL stores a constant default
    # in the catalogue), and workers still running the previous release insert rows without it.
    dependencies = [
        ("inference", "0004_status_one_vocabulary"),
    ]

    operations = [
        migrations.AddField(
            model_name="imageanalysis",
            name="worker",
            field=models.CharField(blank=True, db_default="", max_length=200),
        ),
    ]
