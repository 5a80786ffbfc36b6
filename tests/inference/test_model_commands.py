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
