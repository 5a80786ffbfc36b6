"""EfficientNet-Lite0 conversion (torch-free .pth reader, Keras model, cache) and the 128-D Embedder."""

import io
import os
from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image

from inference.embedding import backbone
from inference.embedding.backbone import (
    CheckpointError,
    cache_path,
    lite_pth_path,
    lite_state_dict,
    load_lite,
    preprocess,
)
from inference.embedding.embedder import Embedder, resize_for_model
from inference.images import WORKING_MAX_SIDE, load_rgb

DATA_DIR = Path(os.environ.get("SHARED_DATA", Path(__file__).resolve().parents[3] / "shared" / "data"))
FLOWERS = DATA_DIR / "flowers102"
IMAGENET_DAISY = 985
OXEYE_DAISY = "49"


def _flower(class_id: str, index: int = 0) -> np.ndarray:
    if not FLOWERS.is_dir():
        pytest.skip(f"shared data not found at {FLOWERS}")
    path = sorted((FLOWERS / class_id).glob("*.jpg"))[index]
    return np.asarray(Image.open(path).convert("RGB"))


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("lite0-cache")


@pytest.fixture(scope="module")
def classifier(cache_dir: Path) -> keras.Model:
    return load_lite(cache_dir, include_top=True)  # converts from the .pth and fills the cache


@pytest.fixture(scope="module")
def embedder(classifier: keras.Model, cache_dir: Path) -> Embedder:
    return Embedder(cache_dir)  # after `classifier`, so it loads from the cache


def test_state_dict_has_every_tensor_with_torch_shapes() -> None:
    state = lite_state_dict(lite_pth_path())
    # 49 conv (stem, head, 16 depthwise, 16 project, 15 expand) + 49 BN x 5 + fc weight and bias.
    assert len(state) == 296
    assert state["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert state["_blocks.3._depthwise_conv.weight"].shape == (144, 1, 5, 5)
    assert state["_blocks.15._project_conv.weight"].shape == (320, 1152, 1, 1)
    assert state["_conv_head.weight"].shape == (1280, 320, 1, 1)
    assert state["_fc.weight"].shape == (1000, 1280)
    assert state["_fc.weight"].dtype == np.float32
    assert state["_bn0.num_batches_tracked"].dtype == np.int64
    assert sum(a.size for a in state.values() if a.dtype == np.float32) == 4_694_024


def test_wrong_checkpoint_is_refused_by_name(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.pth"
    bogus.write_bytes(b"not the lite0 checkpoint")
    with pytest.raises(CheckpointError, match=r"bogus\.pth.*sha256"):
        lite_state_dict(bogus)
    with pytest.raises(CheckpointError, match="missing.pth"):
        lite_state_dict(tmp_path / "missing.pth")


def test_stride2_padding_is_tf_same() -> None:
    # The odd padding pixel goes after (bottom/right), as in Conv2dStaticSamePadding.
    assert backbone._same_pad(224, 3, 2) == (0, 1)
    assert backbone._same_pad(56, 5, 2) == (1, 2)


def test_cache_is_written_and_reused(classifier: keras.Model, cache_dir: Path, monkeypatch) -> None:
    assert cache_path(cache_dir).is_file()
    assert [p.name for p in cache_dir.iterdir()] == [cache_path(cache_dir).name]  # no temp leftovers

    def no_checkpoint(*args) -> Path:
        raise AssertionError("a cached load must not read the .pth")

    monkeypatch.setattr(backbone, "lite_pth_path", no_checkpoint)
    reloaded = load_lite(cache_dir, include_top=True)
    for a, b in zip(classifier.get_weights(), reloaded.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert load_lite(cache_dir).output.shape == (None, 1280)


def test_converted_model_calls_oxeye_daisies_daisy(classifier: keras.Model) -> None:
    batch = preprocess(np.stack([resize_for_model(_flower(OXEYE_DAISY, i)) for i in range(5)]))
    logits = np.asarray(classifier(batch, training=False))
    assert logits.shape == (5, 1000)
    assert logits[0].argmax() == IMAGENET_DAISY
    top5 = np.argsort(-logits, axis=1)[:, :5]
    assert sum(IMAGENET_DAISY in row for row in top5) >= 4


@pytest.mark.parametrize("name", ["lite1", "lite2"])
def test_bigger_variants_convert_and_call_oxeye_daisies_daisy(name: str, tmp_path: Path) -> None:
    # The width/depth rules must rebuild the checkpoint's exact shapes: assigning fails on any
    # tensor that is missing, left over or shaped differently.
    variant = backbone.LITE_VARIANTS[name]
    classifier = load_lite(tmp_path, include_top=True, variant=variant)
    assert cache_path(tmp_path, variant).is_file() and cache_path(tmp_path, variant) != cache_path(tmp_path)
    assert len(backbone._block_specs(variant)) == 21
    assert classifier.input_shape == (None, variant.input_size, variant.input_size, 3)
    batch = preprocess(np.stack([resize_for_model(_flower(OXEYE_DAISY, i), variant.input_size) for i in range(5)]))
    top5 = np.argsort(-np.asarray(classifier(batch, training=False)), axis=1)[:, :5]
    assert top5[0, 0] == IMAGENET_DAISY
    assert sum(IMAGENET_DAISY in row for row in top5) >= 4


def test_training_features_come_from_the_chosen_backbone_at_its_input_size(tmp_path: Path) -> None:
    from inference.embedding.embedder import pooled_features_function
    from inference.embedding.training import LabelledPhotos, features_extract

    lite1 = backbone.LITE_VARIANTS["lite1"]
    photo = sorted((FLOWERS / OXEYE_DAISY).glob("*.jpg"))[0] if FLOWERS.is_dir() else pytest.skip("no flowers")
    features, readable = features_extract(LabelledPhotos([photo], np.array([0]), ["daisy"]), tmp_path, 2, 0,
                                          lambda line: None, progress=False, variant=lite1)
    assert features.shape == (1, 2, 1280) and readable.all()
    forward = pooled_features_function(load_lite(tmp_path, variant=lite1), lite1.input_size)
    rgb = load_rgb(photo.read_bytes(), max_side=WORKING_MAX_SIDE)
    expected = forward(preprocess(resize_for_model(rgb, lite1.input_size)[None])).numpy()[0]
    np.testing.assert_allclose(features[0, 0], expected, rtol=1e-4, atol=1e-5)


def test_embeddings_are_deterministic_unit_float32(embedder: Embedder) -> None:
    rng = np.random.default_rng(0)
    sizes = ((300, 200, 3), (64, 500, 3), (224, 224, 3))
    images = [rng.integers(0, 256, size, dtype=np.uint8) for size in sizes]
    first = embedder.embed(images)
    assert first.shape == (3, Embedder.dim) == (3, 128)
    assert first.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(first, embedder.embed(images))
    assert embedder.embed([]).shape == (0, 128)


def test_near_duplicate_is_nearer_than_another_photo(embedder: Embedder) -> None:
    photo, other = _flower(OXEYE_DAISY), _flower("10")
    buffer = io.BytesIO()
    smaller = Image.fromarray(photo).resize((photo.shape[1] * 3 // 4, photo.shape[0] * 3 // 4))
    smaller.save(buffer, "JPEG", quality=70)
    copy = np.asarray(Image.open(buffer).convert("RGB"))
    a, b, c = embedder.embed([photo, copy, other])
    assert a @ b > a @ c + 0.2
    assert a @ b > 0.9


def test_embedder_rejects_non_rgb_uint8(embedder: Embedder) -> None:
    with pytest.raises(ValueError, match="HxWx3 uint8"):
        embedder.embed([np.zeros((10, 10), dtype=np.uint8)])


def test_the_default_averages_a_whole_photo_with_its_mirror_image_but_not_a_crop(embedder: Embedder,
                                                                                  cache_dir: Path) -> None:
    from inference.embedding.embedder import EMBEDDING_MODELS, pooled_features_function
    from inference.embedding.head import head_load
    from inference.versions import DEFAULT_EMBEDDING_MODEL

    served = EMBEDDING_MODELS[DEFAULT_EMBEDDING_MODEL]
    assert served.mirror_whole_photo and embedder.mirror_whole_photo
    photo = np.asarray(np.random.default_rng(3).integers(0, 256, (180, 240, 3)), dtype=np.uint8)
    mirror = photo[:, ::-1]
    whole, whole_of_mirror = embedder.embed([photo, mirror])
    np.testing.assert_allclose(whole, whole_of_mirror, atol=1e-6)
    crop, crop_of_mirror = embedder.embed([], crops=[photo, mirror])
    assert not np.allclose(crop, crop_of_mirror, atol=1e-3), "a crop is embedded as it is"
    # The recipe recomputed outside the embedder: the projection (numpy) of the mean of the photo's
    # and its mirror image's pooled features, the same mean that view-whitening training reads.
    squashed, lite0 = resize_for_model(photo), load_lite(cache_dir)
    pooled = np.asarray(pooled_features_function(lite0)(preprocess(np.stack([squashed, squashed[:, ::-1]]))))
    averaged = np.asarray(pooled_features_function(lite0, mirror_average=True)(preprocess(squashed[None])))
    np.testing.assert_allclose(averaged[0], pooled.mean(axis=0), rtol=1e-4, atol=1e-5)
    projection = head_load(served.projection, input_dim=1280, dim=128)
    np.testing.assert_allclose(whole, projection.project(pooled.mean(axis=0, keepdims=True))[0], atol=1e-4)
    np.testing.assert_allclose(crop, projection.project(pooled[:1])[0], atol=1e-4)
    # The pipeline's single call (photo + crop in one batch) gives the same vectors as separate calls.
    np.testing.assert_allclose(embedder.embed([photo], crops=[photo]), np.stack([whole, crop]), atol=1e-5)
