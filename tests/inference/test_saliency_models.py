"""Saliency models behind SaliencyModel: the trained default, SavedModels like the authors', the
fallback when a model is broken, and installing the authors' model."""

import logging
import tarfile
import urllib.error

import numpy as np
import pytest
import tensorflow as tf

from inference.saliency import fetch
from inference.saliency.fetch import FetchError, fetch_msinet_vgg16
from inference.saliency.models import (
    LITE0_HEAD_WEIGHTS,
    Lite0Saliency,
    SaliencyModelError,
    SavedModelSaliency,
    SpectralSaliency,
    saliency_model_load,
)
from inference.saliency.msinet import build_msinet_vgg16, savedmodel_export
from inference.versions import SALIENCY_VERSIONS

SHAPES = [(240, 320, 3), (40, 2000, 3), (2000, 40, 3), (333, 500, 4), (37, 53), (1, 1, 3), (5, 7)]


@pytest.fixture(scope="module")
def cache_dir():
    from django.conf import settings

    return settings.MODEL_CACHE_DIR


@pytest.fixture(scope="module")
def lite0(cache_dir):
    return Lite0Saliency(cache_dir)


@pytest.fixture(scope="module")
def vgg16_savedmodel(tmp_path_factory):
    """The project's own VGG16 MSI-Net (random weights) exported with the authors' interface."""
    path = tmp_path_factory.mktemp("export") / "msinet-vgg16"
    savedmodel_export(build_msinet_vgg16(), path)
    return path


@pytest.fixture(scope="module")
def small_savedmodel(tmp_path_factory):
    """A one-conv network with the same interface: installing is plumbing, the size is irrelevant."""
    import keras

    path = tmp_path_factory.mktemp("export") / "small"
    inputs = keras.Input((None, None, 3))
    savedmodel_export(keras.Model(inputs, keras.layers.Conv2D(1, 3, padding="same")(inputs)), path)
    return path


def test_shipped_weights_are_float16() -> None:
    assert {a.dtype for a in np.load(LITE0_HEAD_WEIGHTS).values()} == {np.dtype("float16")}


@pytest.mark.parametrize("shape", SHAPES)
def test_default_model_maps_any_photo_at_its_own_size(lite0, shape) -> None:
    photo = np.random.default_rng(sum(shape)).integers(0, 256, shape, dtype=np.uint8)
    saliency = lite0.predict(photo)
    assert saliency.shape == shape[:2] and saliency.dtype == np.float32
    assert np.isfinite(saliency).all() and saliency.min() >= 0 and saliency.max() == pytest.approx(1.0)


def test_default_model_finds_an_object_off_centre(lite0) -> None:
    photo = np.full((240, 320, 3), 90, np.uint8)
    photo[30:80, 230:290] = (230, 40, 40)  # a red square, top right
    saliency = lite0.predict(photo)
    assert saliency[30:80, 230:290].mean() > 2 * saliency[170:220, 30:90].mean()


def test_savedmodel_loader_runs_an_exported_network(vgg16_savedmodel) -> None:
    model = SavedModelSaliency(vgg16_savedmodel)
    assert model.version == SALIENCY_VERSIONS["msinet-vgg16"]
    saliency = model.predict(np.random.default_rng(0).integers(0, 256, (50, 90, 3), dtype=np.uint8))
    assert saliency.shape == (50, 90) and saliency.min() >= 0 and saliency.max() == pytest.approx(1.0)


def test_savedmodel_with_the_wrong_signature_is_refused(tmp_path) -> None:
    module = tf.Module()
    module.serve = tf.function(lambda x: {"a": x, "b": x}, input_signature=[tf.TensorSpec((1, None, None, 3))])
    tf.saved_model.save(module, str(tmp_path / "two-outputs"), signatures={"serving_default": module.serve})
    with pytest.raises(SaliencyModelError, match="two-outputs.*one input and one output"):
        SavedModelSaliency(tmp_path / "two-outputs")

    module.serve = tf.function(lambda x: {"out": x}, input_signature=[tf.TensorSpec((1, None, None, 3))])
    tf.saved_model.save(module, str(tmp_path / "three-channels"), signatures={"other": module.serve})
    with pytest.raises(SaliencyModelError, match="three-channels.*serving_default"):
        SavedModelSaliency(tmp_path / "three-channels")


def test_missing_or_corrupt_files_name_the_file(tmp_path, cache_dir) -> None:
    with pytest.raises(SaliencyModelError, match="nowhere"):
        SavedModelSaliency(tmp_path / "nowhere")
    (tmp_path / "corrupt").mkdir()
    (tmp_path / "corrupt" / "saved_model.pb").write_bytes(b"not a protobuf")
    with pytest.raises(SaliencyModelError, match="corrupt"):
        SavedModelSaliency(tmp_path / "corrupt")
    (tmp_path / "head.npz").write_bytes(b"junk")
    with pytest.raises(SaliencyModelError, match="head.npz"):
        Lite0Saliency(cache_dir, weights=tmp_path / "head.npz")


def test_broken_model_falls_back_to_the_default_and_says_why(tmp_path, caplog, cache_dir) -> None:
    with caplog.at_level(logging.ERROR):
        model = saliency_model_load("msinet-vgg16", cache_dir=cache_dir, vgg16_path=tmp_path / "gone")
    assert isinstance(model, Lite0Saliency)
    assert "msinet-vgg16" in caplog.text and str(tmp_path / "gone") in caplog.text
    assert isinstance(saliency_model_load("spectral", cache_dir=tmp_path), SpectralSaliency)


def test_fetch_installs_a_verified_model_from_a_folder_or_an_archive(tmp_path, small_savedmodel) -> None:
    target = tmp_path / "var" / "msinet-vgg16"
    fetch_msinet_vgg16(target, from_dir=small_savedmodel)
    assert (target / "saved_model.pb").is_file()

    archive = tmp_path / "msinet.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(small_savedmodel, arcname="wrapped/msinet")
    fetch_msinet_vgg16(target, from_archive=archive)
    SavedModelSaliency(target)


def test_fetch_refuses_a_bad_model_and_keeps_the_installed_one(tmp_path, small_savedmodel) -> None:
    target = tmp_path / "msinet-vgg16"
    fetch_msinet_vgg16(target, from_dir=small_savedmodel)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "saved_model.pb").write_bytes(b"junk")
    with pytest.raises(FetchError, match="nothing installed"):
        fetch_msinet_vgg16(target, from_dir=bad)
    SavedModelSaliency(target)


def test_fetch_offline_says_what_to_do(tmp_path, monkeypatch) -> None:
    def offline(*args, **kwargs):
        raise urllib.error.URLError("no route to host")

    monkeypatch.setattr(fetch.urllib.request, "urlopen", offline)  # never touch the network in tests
    with pytest.raises(FetchError, match="--from-dir"):
        fetch_msinet_vgg16(tmp_path / "msinet-vgg16")
    assert not (tmp_path / "msinet-vgg16").exists()
