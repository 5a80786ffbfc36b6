"""MSI-Net builders, loss and weight files (Keras, tiny inputs)."""

import numpy as np
import pytest
import tensorflow as tf

from inference.embedding.backbone import load_lite, preprocess
from inference.saliency.msinet import (
    build_lite0_encoder,
    build_lite0_head,
    build_msinet_lite0,
    build_msinet_vgg16,
    copy_lite0_weights,
    count_params,
    head_weights_load,
    head_weights_save,
    kld_loss,
)


def test_vgg16_network_has_the_papers_size_and_output_shape() -> None:
    model = build_msinet_vgg16()
    # Authors' model: ~24.9 M. VGG16 convs 14.71 M + ASPP 9.83 M + decoder 0.39 M.
    assert count_params(model) == 24_934_209
    assert model.get_layer("encoder_concat").output.shape[-1] == 256 + 512 + 512
    assert model.get_layer("conv5_1").dilation_rate == (2, 2)
    assert model.get_layer("pool4").strides == (1, 1) and model.get_layer("pool5").strides == (1, 1)
    # Output stride 8, then three x2 upsamplings: full resolution, one channel.
    assert model(np.zeros((1, 32, 48, 3), np.float32)).shape == (1, 32, 48, 1)


def test_lite0_model_predicts_at_stride_two_for_any_canvas() -> None:
    model = build_msinet_lite0()
    assert model(np.zeros((1, 64, 96, 3), np.float32)).shape == (1, 32, 48, 1)
    # 240 is not a multiple of 32: the stride-32 map (8 rows) is resized onto the stride-8 one.
    assert model(np.zeros((1, 240, 320, 3), np.float32)).shape == (1, 120, 160, 1)


def test_lite0_encoder_reproduces_the_imagenet_backbone(settings) -> None:
    imagenet = load_lite(settings.MODEL_CACHE_DIR, include_top=True)
    encoder = build_lite0_encoder()
    copy_lite0_weights(encoder, imagenet)
    reference = tf.keras.Model(imagenet.input, imagenet.get_layer("block15_project_bn").output)
    batch = preprocess(np.random.default_rng(0).integers(0, 256, (1, 224, 224, 3)))
    # "same" padding here vs explicit TF-SAME padding in the backbone: identical features.
    np.testing.assert_allclose(encoder(batch)[2], reference(batch), atol=1e-4)


def test_kld_loss_by_hand() -> None:
    target = np.array([[0.5, 0.5], [0.0, 0.0]], np.float32).reshape(1, 2, 2, 1)
    uniform_logits = np.zeros((1, 2, 2, 1), np.float32)
    # KL(target || uniform) = sum 0.5 * log(0.5 / 0.25) = log 2.
    assert float(kld_loss(target * 7, uniform_logits)) == pytest.approx(np.log(2), abs=1e-5)
    perfect = np.log(np.array([0.5, 0.5, 1e-9, 1e-9], np.float32)).reshape(1, 2, 2, 1)
    assert float(kld_loss(target, perfect)) == pytest.approx(0.0, abs=1e-5)


def test_head_weights_roundtrip_as_float16_and_refuse_a_mismatch(tmp_path) -> None:
    head = build_lite0_head()
    path = tmp_path / "head.npz"
    head_weights_save(head, path)
    assert {a.dtype for a in np.load(path).values()} == {np.dtype("float16")}
    other = build_lite0_head()
    head_weights_load(other, path)
    for a, b in zip(head.get_weights(), other.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, atol=2e-3, rtol=2e-3)

    narrow = build_lite0_head(aspp_channels=32)
    with pytest.raises(ValueError, match="head.npz"):
        head_weights_load(narrow, path)
