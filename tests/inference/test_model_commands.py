"""predict_saliency and embed_images: the production pipeline, on folders."""

import numpy as np
import PIL.Image
import pytest
from django.core.management import CommandError, call_command

from inference.images import WORKING_MAX_SIDE, load_rgb
from inference.services import pipeline_get
from tests.conftest import photo_bytes


@pytest.fixture
def photo_dir(tmp_path):
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    (folder / "wide.jpg").write_bytes(photo_bytes(1, size=(1600, 400)))
    (folder / "sub" / "tall.png").write_bytes(photo_bytes(2, size=(90, 300), fmt="PNG", alpha=True))
    (folder / "sub" / "tiny.jpg").write_bytes(photo_bytes(3, size=(7, 5)))
    return folder


def test_predict_saliency_writes_maps_of_each_photo_size(photo_dir, tmp_path):
    out = tmp_path / "maps"
    call_command("predict_saliency", str(photo_dir), str(out), verbosity=0)
    for name, size in {"wide": (1600, 400), "tall": (90, 300), "tiny": (7, 5)}.items():
        with PIL.Image.open(out / f"{name}.png") as saliency:
            assert saliency.mode == "L" and saliency.size == size
            assert np.asarray(saliency).max() > 0


def test_embed_images_matches_the_pipeline(photo_dir, tmp_path):
    out = tmp_path / "vectors.npz"
    call_command("embed_images", str(photo_dir), str(out), verbosity=0)
    data = np.load(out)
    assert list(data["paths"]) == ["sub/tall.png", "sub/tiny.jpg", "wide.jpg"]
    assert data["vectors"].shape == (3, 128)
    np.testing.assert_allclose(np.linalg.norm(data["vectors"], axis=1), 1.0, atol=1e-5)
    expected = pipeline_get().analyze(load_rgb((photo_dir / "wide.jpg").read_bytes(), max_side=WORKING_MAX_SIDE))
    np.testing.assert_allclose(data["vectors"][2], expected.vector, atol=1e-5)

    call_command("embed_images", str(photo_dir), str(tmp_path / "whole.npz"), "--no-crop", verbosity=0)
    whole = np.load(tmp_path / "whole.npz")["vectors"]
    np.testing.assert_allclose(whole[2], expected.whole_vector, atol=1e-4)
    assert not np.allclose(whole[2], data["vectors"][2], atol=1e-3), "--no-crop must change the vectors"


def test_train_view_whitening_refuses_an_unknown_backbone(photo_dir, tmp_path):
    with pytest.raises(CommandError, match="--backbone must be one of lite0, lite1, lite2, not 'lite9'"):
        call_command("train_view_whitening", str(photo_dir), "--out", str(tmp_path / "out"), "--backbone", "lite9")
    assert not (tmp_path / "out").exists()


def test_train_view_whitening_mirror_average_fits_on_mirror_averaged_views(tmp_path, settings):
    import json

    from inference.embedding.backbone import load_lite, preprocess
    from inference.embedding.embedder import pooled_features_function, resize_for_model

    photo_dir = tmp_path / "in"
    photo_dir.mkdir()
    for seed, name in ((4, "a.jpg"), (5, "b.jpg"), (1, "wide.jpg")):
        (photo_dir / name).write_bytes(photo_bytes(seed, size=(640, 320)))
    cache = tmp_path / "features.npz"
    call_command("train_view_whitening", str(photo_dir), "--out", str(tmp_path / "mirror"), "--views", "2",
                 "--mirror-average", "--features-cache", str(cache), verbosity=0)
    assert json.loads((tmp_path / "mirror" / "training.json").read_text())["mirror_average"] is True
    averaged = np.load(cache)["features"]
    # View 0 is the whole frame: its features are the mean of the photo's and its mirror image's.
    squashed = resize_for_model(load_rgb((photo_dir / "wide.jpg").read_bytes(), max_side=WORKING_MAX_SIDE))
    pooled = np.asarray(pooled_features_function(load_lite(settings.MODEL_CACHE_DIR))(
        preprocess(np.stack([squashed, squashed[:, ::-1]]))))
    np.testing.assert_allclose(averaged[2, 0], pooled.mean(axis=0), rtol=1e-3, atol=1e-4)
    # The same cache file without the flag is not reused: plain views are other features.
    call_command("train_view_whitening", str(photo_dir), "--out", str(tmp_path / "plain"), "--views", "2",
                 "--features-cache", str(cache), verbosity=0)
    np.testing.assert_allclose(np.load(cache)["features"][2, 0], pooled[0], rtol=1e-3, atol=1e-4)
    assert "mirror_average" not in json.loads((tmp_path / "plain" / "training.json").read_text())
