"""MSI-Net (Kroner et al. 2020, arXiv 1902.06634) in Keras: the paper's VGG16 network and a fast
EfficientNet-Lite0 variant of the same design.

Design shared by both: encoder features brought to output stride 8 and concatenated, an ASPP
module (1x1, three 3x3 at dilation 4/8/12, image pooling; concatenated, then 1x1), a decoder of
bilinear x2 upsamplings each followed by a 3x3 conv, a 3x3 conv to one channel, and a KL-divergence
loss. Both models output logits (N, h, w, 1); ``spatial_softmax`` turns them into a distribution
over pixels, which is what the KLD loss compares with the normalised fixation density.

Layers take any input size: resizes are dynamic, so one model serves every canvas shape.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from inference.embedding.backbone import BN_EPSILON, lite_trunk

ASPP_RATES = (4, 8, 12)

# Lite0 blocks whose outputs feed the decoder: the last of the stride-8 stage (40 ch),
# of the stride-16 stages (112 ch) and of the stride-32 stages (320 ch).
LITE0_FEATURE_BLOCKS = (4, 10, 15)


class ResizeLike(keras.layers.Layer):
    """Bilinear resize of ``x`` to the spatial size of ``like`` (shapes known only at run time)."""

    def call(self, x: tf.Tensor, like: tf.Tensor) -> tf.Tensor:
        return tf.image.resize(x, tf.shape(like)[1:3], method="bilinear")

    def compute_output_shape(self, x_shape, like_shape):
        return (x_shape[0], like_shape[1], like_shape[2], x_shape[3])


class Upsample2x(keras.layers.Layer):
    """Bilinear x2 upsampling for inputs of any size (the paper's decoder step)."""

    def call(self, x: tf.Tensor) -> tf.Tensor:
        return tf.image.resize(x, 2 * tf.shape(x)[1:3], method="bilinear")

    def compute_output_shape(self, shape):
        scale = lambda n: None if n is None else 2 * n  # noqa: E731
        return (shape[0], scale(shape[1]), scale(shape[2]), shape[3])


def aspp(x: keras.KerasTensor, channels: int, prefix: str = "aspp") -> keras.KerasTensor:
    """Atrous spatial pyramid pooling as in MSI-Net: four conv branches plus image pooling."""
    branches = [keras.layers.Conv2D(channels, 1, activation="relu", name=f"{prefix}_1x1")(x)]
    for rate in ASPP_RATES:
        branches.append(
            keras.layers.Conv2D(
                channels, 3, padding="same", dilation_rate=rate, activation="relu", name=f"{prefix}_3x3_r{rate}"
            )(x)
        )
    pooled = keras.layers.GlobalAveragePooling2D(keepdims=True, name=f"{prefix}_pool")(x)
    pooled = keras.layers.Conv2D(channels, 1, activation="relu", name=f"{prefix}_pool_1x1")(pooled)
    branches.append(ResizeLike(name=f"{prefix}_pool_broadcast")(pooled, x))
    x = keras.layers.Concatenate(name=f"{prefix}_concat")(branches)
    return keras.layers.Conv2D(channels, 1, activation="relu", name=f"{prefix}_out")(x)


def decoder(x: keras.KerasTensor, widths: tuple[int, ...], prefix: str = "dec") -> keras.KerasTensor:
    """One bilinear x2 upsampling and one 3x3 ReLU conv per width, then a 3x3 conv to one logit."""
    for i, width in enumerate(widths, start=1):
        x = Upsample2x(name=f"{prefix}_up{i}")(x)
        x = keras.layers.Conv2D(width, 3, padding="same", activation="relu", name=f"{prefix}_conv{i}")(x)
    return keras.layers.Conv2D(1, 3, padding="same", name=f"{prefix}_logits")(x)


# --------------------------------------------------------------------------------------------------
# The paper's network
# --------------------------------------------------------------------------------------------------

_VGG16_BLOCKS = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))


def build_msinet_vgg16() -> keras.Model:
    """MSI-Net with its VGG16 encoder on (None, None, None, 3) ImageNet-mean-subtracted RGB.

    pool4 and pool5 run at stride 1 and conv5 is dilated (rate 2), so pool3, pool4 and pool5 all
    sit at output stride 8 and concatenate to 1280 channels. About 24.9 M parameters.
    """
    inputs = keras.Input((None, None, 3), name="image")
    x, skips = inputs, []
    for block, widths in enumerate(_VGG16_BLOCKS, start=1):
        for i, width in enumerate(widths, start=1):
            x = keras.layers.Conv2D(
                width, 3, padding="same", activation="relu", dilation_rate=2 if block == 5 else 1,
                name=f"conv{block}_{i}",
            )(x)
        stride = 2 if block <= 3 else 1
        x = keras.layers.MaxPooling2D(2, stride, padding="same", name=f"pool{block}")(x)
        if block >= 3:
            skips.append(x)
    x = keras.layers.Concatenate(name="encoder_concat")(skips)
    x = aspp(x, 256)
    logits = decoder(x, (128, 64, 32))
    return keras.Model(inputs, logits, name="msinet_vgg16")


# --------------------------------------------------------------------------------------------------
# The fast variant: EfficientNet-Lite0 encoder
# --------------------------------------------------------------------------------------------------


def _lite0_conv_bn(
    x: keras.KerasTensor, name: str, filters: int, kernel: int, stride: int, depthwise: bool, relu: bool
) -> keras.KerasTensor:
    # TensorFlow's "SAME" padding puts the odd pixel bottom/right, exactly like the checkpoint's
    # Conv2dStaticSamePadding, and unlike explicit padding it works for any input size.
    if depthwise:
        x = keras.layers.DepthwiseConv2D(kernel, stride, "same", use_bias=False, name=f"{name}_conv")(x)
    else:
        x = keras.layers.Conv2D(filters, kernel, stride, "same", use_bias=False, name=f"{name}_conv")(x)
    x = keras.layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{name}_bn")(x)
    return keras.layers.ReLU(6.0, name=f"{name}_relu6")(x) if relu else x


def build_lite0_encoder() -> keras.Model:
    """Lite0 up to its last block on (None, None, None, 3) normalised input; layer names match
    ``backbone.build_lite`` so ImageNet weights copy over by name. Outputs the feature maps at
    strides 8, 16 and 32 (40, 112 and 320 channels)."""
    inputs = keras.Input((None, None, 3), name="image")
    _, features = lite_trunk(inputs, _lite0_conv_bn, keep=LITE0_FEATURE_BLOCKS)
    return keras.Model(inputs, features, name="lite0_encoder")


def copy_lite0_weights(encoder: keras.Model, imagenet: keras.Model) -> None:
    """Copy ImageNet weights from ``backbone.load_lite(..., include_top=True)`` into the encoder."""
    for layer in encoder.layers:
        if layer.weights:
            layer.set_weights(imagenet.get_layer(layer.name).get_weights())


#: Widths of the Lite0 head, chosen by measurement on 2 CPU cores (see models.py).
LITE0_ASPP_CHANNELS = 64
LITE0_DECODER_WIDTHS = (32, 16)
FEATURE_DROPOUT = 0.25


def build_lite0_head(
    aspp_channels: int = LITE0_ASPP_CHANNELS, decoder_widths: tuple[int, ...] = LITE0_DECODER_WIDTHS
) -> keras.Model:
    """The trainable part on Lite0 features: the three maps (strides 8, 16, 32) are resized to
    stride 8 and concatenated (472 channels), then ASPP and the decoder. Output stride is
    ``8 / 2 ** len(decoder_widths)``; fixation maps are smooth, so the last upsampling to full
    size is a plain bilinear resize outside the network."""
    s8 = keras.Input((None, None, 40), name="s8")
    s16 = keras.Input((None, None, 112), name="s16")
    s32 = keras.Input((None, None, 320), name="s32")
    up16 = ResizeLike(name="s16_to_s8")(s16, s8)
    up32 = ResizeLike(name="s32_to_s8")(s32, s8)
    x = keras.layers.Concatenate(name="encoder_concat")([s8, up16, up32])
    # Training only: dropping whole feature channels is the head's main regulariser, as the
    # frozen features are cached and only flips augment them (without it, val KLD rose from
    # epoch 5 while train KLD kept falling).
    x = keras.layers.SpatialDropout2D(FEATURE_DROPOUT, name="feature_dropout")(x)
    x = aspp(x, aspp_channels)
    logits = decoder(x, decoder_widths)
    return keras.Model([s8, s16, s32], logits, name="msinet_lite0_head")


def build_msinet_lite0(head: keras.Model | None = None, encoder: keras.Model | None = None) -> keras.Model:
    """Lite0 encoder and head as one model: normalised RGB in, logits at the head's stride out."""
    encoder = encoder or build_lite0_encoder()
    head = head or build_lite0_head()
    return keras.Model(encoder.input, head(encoder.output), name="msinet_lite0")


# --------------------------------------------------------------------------------------------------
# Loss
# --------------------------------------------------------------------------------------------------


def spatial_log_softmax(logits: tf.Tensor) -> tf.Tensor:
    """(N, h, w, 1) logits -> log of a distribution over each map's pixels."""
    flat = tf.reshape(logits, (tf.shape(logits)[0], -1))
    return tf.reshape(tf.nn.log_softmax(flat, axis=1), tf.shape(logits))


def kld_loss(target: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
    """Mean KL(target || softmax(logits)); ``target`` is a non-negative density of the logits' size."""
    target = target / (tf.reduce_sum(target, axis=(1, 2, 3), keepdims=True) + 1e-12)
    kl = target * (tf.math.log(target + 1e-12) - spatial_log_softmax(logits))
    return tf.reduce_mean(tf.reduce_sum(kl, axis=(1, 2, 3)))


def count_params(model: keras.Model) -> int:
    return int(sum(np.prod(w.shape) for w in model.weights))


def lite0_encoder_load(cache_dir) -> keras.Model:
    """The Lite0 encoder with ImageNet weights (converted and cached by ``backbone.load_lite``)."""
    from inference.embedding.backbone import load_lite

    encoder = build_lite0_encoder()
    copy_lite0_weights(encoder, load_lite(cache_dir, include_top=True))
    return encoder


def head_weights_save(head: keras.Model, path, dtype: str = "float16") -> None:
    """Write the head's weights as ``<layer>/<index>`` arrays in an .npz (float16 to ship)."""
    arrays = {
        f"{layer.name}/{i}": np.asarray(w).astype(dtype)
        for layer in head.layers
        for i, w in enumerate(layer.get_weights())
    }
    np.savez(path, **arrays)


def head_weights_load(head: keras.Model, path) -> None:
    """Load ``head_weights_save`` output; a missing, extra or misshapen array is a ValueError."""
    with np.load(path) as stored:
        arrays = dict(stored)
    for layer in head.layers:
        current = layer.get_weights()
        if not current:
            continue
        new = []
        for i, w in enumerate(current):
            key = f"{layer.name}/{i}"
            if key not in arrays:
                raise ValueError(f"{path}: no weights for {key}")
            value = arrays.pop(key)
            if value.shape != w.shape:
                raise ValueError(f"{path}: {key} has shape {value.shape}, the model expects {w.shape}")
            new.append(value.astype(np.float32))
        layer.set_weights(new)
    if arrays:
        raise ValueError(f"{path}: unexpected arrays {sorted(arrays)[:5]}")


#: ImageNet RGB mean that the VGG16 encoder's weights expect subtracted.
VGG16_RGB_MEAN = (123.68, 116.779, 103.939)


def savedmodel_export(model: keras.Model, path, rgb_mean: tuple[float, float, float] = VGG16_RGB_MEAN) -> None:
    """Export an MSI-Net as a SavedModel with the authors' interface: ``serving_default`` takes
    ``input``, float32 (1, H, W, 3) RGB in 0..255, and returns ``output``, (1, H', W', 1) in [0, 1]."""
    module = tf.Module()
    module.model = model
    mean = tf.constant(rgb_mean, tf.float32)

    @tf.function(input_signature=[tf.TensorSpec((1, None, None, 3), tf.float32, name="input")])
    def serve(input: tf.Tensor) -> dict[str, tf.Tensor]:  # named `input`: the authors' signature's input name
        logits = model(input - mean, training=False)
        probabilities = tf.exp(spatial_log_softmax(logits))
        return {"output": probabilities / tf.reduce_max(probabilities)}

    module.serve = serve
    tf.saved_model.save(module, str(path), signatures={"serving_default": serve})
