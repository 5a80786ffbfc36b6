"""Photos uploaded before renditions existed get them now, and a status copied from their analyses."""


import PIL.Image
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import migrations


def backfill(apps, schema_editor):
    from gallery.models import rendition_name
    from inference import images as renditions  # where the rendition code lives now

    Image = apps.get_model("gallery", "Image")
    ImageAnalysis = apps.get_model("inference", "ImageAnalysis")
    for image in Image.objects.filter(display=""):
        try:
            with default_storage.open(image.file.name, "rb") as handle, PIL.Image.open(handle) as img:
                img.load()
                rgb = renditions.upright_rgb(img)
        except (OSError, ValueError):
            continue  # a missing file stays visible as such; the photo page says so
        image.display = default_storage.save(rendition_name(image.id, "display.jpg"),
                                             ContentFile(renditions.display_rendition(rgb)))
        for name, data in renditions.thumbnails(rgb).items():
            setattr(image, f"thumbnail_{name}",
                    default_storage.save(rendition_name(image.id, f"{name}-centre.jpg"), ContentFile(data)))
        statuses = set(ImageAnalysis.objects.filter(image_id=image.id).values_list("status", flat=True))
        for status in ("done", "running", "failed"):
            if status in statuses:
                image.analysis_status = status
                break
        image.save(update_fields=["display", "thumbnail_square", "thumbnail_wide", "analysis_status"])


class Migration(migrations.Migration):
    dependencies = [
        ("gallery", "0002_renditions_albums_analysis_state"),
        ("inference", "0001_initial"),
    ]
    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
