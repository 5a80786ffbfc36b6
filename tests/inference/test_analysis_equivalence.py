"""The faster analysis path stores what the old one did: the same vectors and crop, and a smaller
saliency map that is the old 8-bit map to within its own quantisation (issue 17)."""

from __future__ import annotations

import numpy as np
import pytest
from django.core.files.storage import default_storage

from gallery import services as gallery_services
from gallery.models import Image
from inference import images, services
from inference.models import ImageEmbedding
from inference.overlays import saliency_from_png, saliency_map_png
from tests.conftest import photo_bytes

pytestmark = pytest.mark.django_db


def old_focus(saliency: np.ndarray) -> float:
    """saliency_focus as it was before: a full sort."""
    flat = np.sort(np.nan_to_num(np.maximum(np.asarray(saliency, dtype=np.float64), 0.0)).ravel())[::-1]
    return float(flat[: max(1, flat.size // 8)].sum() / flat.sum())


@pytest.mark.parametrize(("seed", "size"), [(21, (1024, 768)), (22, (300, 800)), (23, (1600, 1200))])
def test_vectors_crop_and_map_match_the_old_path(make_user, django_capture_on_commit_callbacks, seed, size):
    data = photo_bytes(seed, size=size)
    with django_capture_on_commit_callbacks(execute=False):
        image = gallery_services.image_create(owner=make_user(), data=data, filename=f"p{seed}.jpg")
    analysis = services.image_analyze(image_id=str(image.id))

    # The old path: decode and shrink in one call, the pipeline, the map stored at the working size.
    rgb = images.load_rgb(data, max_side=images.WORKING_MAX_SIDE)
    old = services.pipeline_get().analyze(rgb)
    embedding = ImageEmbedding.objects.get(image=image)
    for stored, expected in ((embedding.vector, old.vector), (embedding.whole_vector, old.whole_vector),
                             (embedding.crop_vector, old.crop_vector)):
        np.testing.assert_allclose(np.asarray(stored), expected, atol=1e-6)
    working = (rgb.shape[1], rgb.shape[0])
    assert analysis.crop_box == images.scale_box(old.crop_box, working, (image.width, image.height))

    old_map = saliency_from_png(saliency_map_png(old.saliency))
    new_map = saliency_from_png(default_storage.open(analysis.saliency_map.name).read())
    assert max(new_map.shape) == min(images.STORED_MAP_MAX_SIDE, max(old_map.shape))
    back = images.resize_map(new_map, *old_map.shape)
    # Measured: at most 3.5 and on average 0.15 of the 255 steps the stored map has anyway.
    assert np.abs(back - old_map).max() <= 5 / 255
    assert np.abs(back - old_map).mean() <= 0.5 / 255
    assert Image.objects.get(pk=image.pk).saliency_focus == pytest.approx(old_focus(old.saliency), abs=1e-9)
    # Thumbnail windows: the float32 map gives the windows its float64 copy (the old path) gives.
    for spec in images.THUMBNAILS.values():
        assert (images.saliency_window(old.saliency, spec.aspect, working)
                == images.saliency_window(old.saliency.astype(np.float64), spec.aspect, working))


def test_only_thumbnails_whose_window_moved_are_redrawn(make_user, django_capture_on_commit_callbacks):
    # 4:3: the wide (4:3) thumbnail's window is the whole photo whatever the map, so the upload's
    # centred file stays; the square one follows the subject (off-centre in this photo).
    with django_capture_on_commit_callbacks(execute=False):
        image = gallery_services.image_create(owner=make_user(), data=photo_bytes(3, size=(800, 600)),
                                              filename="p.jpg")
    centre_wide = image.thumbnail_wide.name
    services.image_analyze(image_id=str(image.id))
    image.refresh_from_db()
    assert image.thumbnail_wide.name == centre_wide and default_storage.exists(centre_wide)
    rgb = images.load_rgb(default_storage.open(image.file.name).read())
    saliency = services.pipeline_get().saliency(rgb)
    assert images.saliency_window(saliency, 1.0, (800, 600)) != images.saliency_window(None, 1.0, (800, 600))
    assert not image.thumbnail_square.name.endswith("-centre.jpg")


def test_a_reanalysis_removes_the_overlay_an_older_worker_stored(make_user, django_capture_on_commit_callbacks):
    from django.core.files.base import ContentFile

    from gallery.models import AnalysisStatus
    from inference.models import ImageAnalysis, analysis_file_name

    with django_capture_on_commit_callbacks(execute=False):
        image = gallery_services.image_create(owner=make_user(), data=photo_bytes(5), filename="p.jpg")
    analysis = services.image_analyze(image_id=str(image.id))
    old = default_storage.save(analysis_file_name(image.id, analysis.model_version, "overlay.png"),
                               ContentFile(b"\x89PNG old"))
    ImageAnalysis.objects.filter(pk=analysis.pk).update(overlay=old, status=AnalysisStatus.PENDING, attempts=0)
    with django_capture_on_commit_callbacks(execute=True):
        again = services.image_analyze(image_id=str(image.id))
    assert again.status == AnalysisStatus.DONE and not again.overlay and again.has_heatmap
    assert not default_storage.exists(old)
