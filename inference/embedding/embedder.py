"""128-D image embeddings for similarity search: EfficientNet-Lite0 features, projected to 128-D.

Projections of the 1280-D average-pooled Lite0 features, each followed by L2-normalisation; the
EMBEDDING_MODEL setting picks the general-purpose one, EMBEDDING_HEAD a domain head instead:

* ``lite0-vw128-mirror`` (default): lite0-vw128's recipe, but a whole photo's pooled features are
  the mean of the photo's and its mirror image's (one more backbone pass per photo, in the same
  batch; the salient crop is embedded as it is), and the projection is fitted on views averaged the
  same way (weights inference/weights/lite0-vw128-mirror/projection.npz, ``manage.py
  train_view_whitening --mirror-average``, same photos, views, seed and shrinkage). A photo and its
  mirror image get the same whole-photo vector. Crop weight 0.35. Chosen on the dev data below
  ("Combinations through the served recipe").
* ``lite0-vw128`` (the default before; kept so an install can roll back to its vectors): power
  normalisation (sqrt, L2), then the view-whitened projection learned without labels
  (inference.embedding.view_whitening; weights inference/weights/lite0-vw128/projection.npz,
  float16, written by ``manage.py train_view_whitening`` from the 600 OSIE photos and the 1,999
  photos of the 41 flowers102 classes of bench/flowers_split.py's training part, 6 views each,
  shrinkage 0.03). Served like a head.
* ``lite0-p128``: the data-free projection below (the default before lite0-vw128; kept too).
* a trained ArcFace head (inference.embedding.arcface; served as in inference.embedding.head), which
  a site enables with EMBEDDING_HEAD when its photos are of one domain, e.g. the flowers head in
  inference/weights/flowers102-arcface/. Its version includes the head file's hash. The file also
  says how it is served: its crop weight, and whether the whole photo is averaged with its mirror
  image (``train_embedder --mirror-average``); a head file from before records neither and is
  served as it was (crop weight 0.5, no mirror). Measured in that folder's README.

Search ranks by the weighted mean of the whole-photo and salient-crop vectors (each model's
crop_weight in EMBEDDING_MODELS).

Measured (load_rgb at 1024 px, squash to 224, cosine). Two sets the projection never
saw: (a) bench/scene_groups.py's 400 groups of simulated re-shoots of the NUS scene photos plus 100
distractors, INRIA Holidays protocol (one query per group), mAP; (b) the 18 flowers102 classes
held out by bench/flowers_split.py (994 photos), leave-one-out R@1 / mAP. The design (training
pool, shrinkage, crop weight) was chosen on the even-numbered scene groups and on a two-fold
class split of the 41 training flower classes; the held-out flowers were used only to report.

=============================================  ==================  ==================
vectors                                         (a) scene groups    (b) 18 unseen
                                                mAP, 400 queries    flower species
=============================================  ==================  ==================
plain 1280-D average pool, whole photo          0.778               0.918 / 0.654
lite0-p128, whole photo                         0.757               0.891 / 0.600
lite0-p128, fused (crop weight 0.5, as served)  0.766               0.922 / 0.651
lite0-vw128, whole photo                        0.773               0.929 / 0.707
lite0-vw128, fused, crop weight 0.35            0.792               0.952 / 0.735
lite0-vw128-mirror, whole photo                 0.783               0.928 / 0.714
lite0-vw128-mirror, fused, crop weight 0.35     0.806               0.950 / 0.739
  (served)
=============================================  ==================  ==================

Commands: ``bench/scene_groups.py --source ../shared/data/saliency/nus_scene/images --out
/tmp/scene-groups`` then ``manage.py evaluate_retrieval /tmp/scene-groups --groups [--model
lite0-p128 | --model lite0-vw128]``; ``bench/flowers_split.py`` then ``manage.py
evaluate_retrieval /tmp/flowers102-split/heldout [--model lite0-p128 | --model lite0-vw128]``;
the plain rows: ``bench/backbone_reference.py DIR [--groups]``. lite0-vw128-mirror was chosen on
the dev data (below) before these two sets were read for it, once: scene groups 0.806 fused
(+0.014 over lite0-vw128; whole photo +0.010), unseen species mAP +0.004 fused (+0.007 whole) at
R@1 -0.002 fused (2 of 994 queries). The 400 scene groups include the even half that chose
it; on the odd half alone the fused gain is 0.812 -> 0.814, the better guess for new photos.
For lite0-vw128: on unseen flowers the projection itself beats the plain backbone it is built
on at a tenth of the dimensions (+0.05 mAP whole photo, +0.08 fused). On the scene groups the
projection alone only matches the plain pool (0.773 vs 0.778) and the default's lead (+0.014)
comes from the crop fusion; fusing the plain 1280-D pool the same way scores 0.792 too (ad hoc,
from cached features). Levers measured on the dev parts (cached features) and left out: GeM
pooling (p = 3) instead of the average, +-0.01 mAP, noise; flip averaging of the whole photo,
+0.01 on scenes, +0.005 on flowers, for a third backbone pass per photo (plain features; through
the projection refitted for it, lite0-vw128-mirror, below); a 320-px input for the
whole photo, plain 1280-D sqrt 0.755 -> 0.766 on the scene dev half at twice the cost of that
pass; weighting the kept axes by their variance ratio (power 0.5), -0.02 to -0.05; a projection
trained on OSIE alone, scene dev 0.748 / 0.784 (whole / fused) but flowers -0.09 (no flowers among
its photos, so its 128 axes drop what tells species apart); fewer flower photos in the pool (every
2nd / 3rd), scene dev +0.003 / +0.004, flowers -0.02 / -0.03; a PCA-whitening of the same photos,
0.714 scene dev. Crop weight, scene dev half / flowers two-fold: 0 -> 0.747 / 0.699, 0.25 -> 0.759,
0.35 -> 0.763 / 0.719, 0.5 -> 0.751.

Two more levers for the scene target (mAP >= 0.80), measured on the dev data only by
``bench/embedding_levers.py --osie ../shared/data/saliency/osie/images --vw-pool
lite1=POOL.npz`` (POOL: the ``--features-cache`` of ``manage.py train_view_whitening
../shared/data/saliency/osie/images /tmp/flowers102-split/train --backbone lite1``; cached
features in float16). Scene groups: mAP over all 400 groups (the even half in brackets); flowers:
two class folds of the 41 training classes, every 2nd photo, leave-one-out R@1 / mAP in each fold,
averaged (the view whitening fitted on OSIE + the other fold). Whole photo / fused at crop weight 0.35:

=============================================  =========================  =========================
vectors (sqrt, L2; cosine)                      scene groups mAP           flowers two-fold R@1/mAP
=============================================  =========================  =========================
Lite0 avg pool 1280-D (what lite0-vw128 reads)  0.780 (0.797) / 0.793      0.935/0.662 / 0.931/0.691
Lite0 R-MAC, regional mean, 14 regions          0.776 (0.797) / 0.794      0.922/0.669 / 0.935/0.693
Lite0 R-MAC, regional max                       0.778 (0.797) / 0.795      0.919/0.670 / 0.937/0.695
Lite1 (240 px) avg pool 1280-D                  0.779 (0.802) / 0.792      0.895/0.622 / 0.928/0.651
Lite1 view-whitened 128-D, same recipe          0.768 (0.792) / 0.787      0.916/0.649 / 0.929/0.675
Lite2 (260 px) avg pool 1280-D                  0.777 (0.786) / 0.795      0.893/0.600 / 0.897/0.641
lite0-vw128 (served; table above)               0.773 / 0.792              --
=============================================  =========================  =========================

Neither lever reaches 0.80 or wins on both sets, so neither replaced lite0-vw128 (the combinations
below did). The bigger
backbones do no better on the scene re-shoots and worse on unseen species (their ImageNet gain
does not carry over to these 1280-D pools), and the Lite1 projection scores below Lite0's on the
scenes (0.787 vs 0.792 fused). R-MAC moves the scenes by -0.004 to +0.002 and the flowers by
+0.002 to +0.008: within the spread between the even and odd halves, so not worth a new version.
Cost (``bench/embed.py --pairs 40 --backbones lite1,lite2``: lite0-vw128's projection as a stand-in;
two runs at load average 8.9 and 9.3 -> 6.6 on the 2 shared cores, so only rough): analysis per
photo vs lite0-p128, Lite1 x0.96 / x1.09, Lite2 x1.22 / x1.25 (lite0-vw128 x0.85 / x0.84 in the same
runs); embedding photo + crop vs lite0-vw128, Lite1 x1.5 / x1.4, Lite2 x1.5 / x1.5. The saliency
model runs its own Lite0 encoder at its own resolution, so a different embedding backbone replaces
the embedder's two passes and adds none. R-MAC costs a few means over a 7x7 map.

Combinations through the served recipe (issue 13: the levers above were each measured alone, on
plain features), dev data only, by ``bench/embedding_combinations.py --osie
../shared/data/saliency/osie/images`` (cached float16 features; 34 min of extraction on the 2 shared
cores at load average ~7, then 3 min). Every row is the full recipe: 1280-D features (a mean over
the listed inputs: the whole photo squashed to 224 / 288 / 320 px, "+ mirror" adding the mirror
image's), sqrt + L2, the view-whitened 128-D projection fitted on the pool's plain views (as
lite0-vw128) or on mirror-averaged views, fused with the crop. Scene groups: mAP over the even
groups (the choosing half); flowers: the two class folds of the 41 training classes (projection
refitted without the held fold), R@1 / mAP. Whole photo / fused at crop weight 0.35; passes: the
backbone work per photo in 224-px passes, photo + crop (2 as lite0-vw128 serves):

============================================  ======  ==================  ==============================
whole photo, crop (projection fitted on)      passes  scenes, even mAP    flowers two-fold R@1/mAP
============================================  ======  ==================  ==============================
224, 224 (plain views: lite0-vw128)           2       0.801 / 0.816       0.919/0.688 / 0.927/0.712
224 + mirror, 224 (plain views)               3       0.807 / 0.825       0.928/0.694 / 0.928/0.714
224, 224 (mirror-averaged views)              2       0.803 / 0.819       0.918/0.689 / 0.927/0.713
224 + mirror, 224 (mirror-averaged; served)   3       0.811 / 0.831       0.930/0.696 / 0.932/0.716
224 + mirror, 224 + mirror (mirror-averaged)  4       0.811 / 0.829       0.930/0.696 / 0.933/0.717
288, 224 (mirror-averaged)                    2.65    0.807 / 0.822       0.915/0.680 / 0.930/0.706
224 + 288, 224 (mirror-averaged)              3.65    0.812 / 0.825       0.938/0.699 / 0.937/0.716
224 + 288 + mirrors, 224 (mirror-averaged)    6.31    0.814 / 0.830       0.937/0.702 / 0.934/0.718
224 + 320, 224 (mirror-averaged)              4.04    0.813 / 0.826       0.931/0.704 / 0.934/0.719
224 + 320 + mirrors, 224 (mirror-averaged)    7.08    0.818 / 0.831       0.939/0.706 / 0.933/0.720
============================================  ======  ==================  ==============================

(The bench prints every pairing, the crop weights 0 / 0.25 / 0.35 / 0.5 and the odd half too.) The
served choice, mirror averaging of the whole photo with the projection refitted on mirror-averaged
views, wins on both dev sets (+0.015 scenes, +0.004 flowers mAP fused over lite0-vw128's recipe)
for one more 224-px pass; refitting is worth +0.006 scenes, +0.002 flowers over feeding the same
features to lite0-vw128's projection. Mirroring the crop as well adds a pass and nothing (-0.002 /
+0.001). A bigger or multi-scale whole-photo input (0.65 to 5 more passes) does not beat it on
the scene dev half (0.822 to 0.831) and moves flowers by -0.010 to +0.004. Crop weight for the
served pairing, scenes even / flowers mAP: 0 -> 0.811 / 0.696, 0.25 -> 0.824 / 0.715, 0.35 ->
0.831 / 0.716, 0.5 -> 0.819 / 0.710, so 0.35 stays, and the fusion beats the whole photo alone on
both. Not tried: the projection fitted on R-MAC features (R-MAC alone moved nothing, table above).
Cost (``bench/embed.py --pairs 60 --models lite0-p128,lite0-vw128,lite0-vw128-mirror``, one run,
load average 5.3 -> 5.5 on the 2 shared cores): analysis per photo vs lite0-p128, lite0-vw128 x0.99,
lite0-vw128-mirror x1.09 (embedding photo + crop x0.95 / x1.28: three images in one batch cost less
than 1.5 times two); an earlier run at load ~7 with 40 pairs, x1.19 / x1.13, so only rough.

Data-free projection (lite0-p128, no training data involved): the 1280-D pooled features are
``mean(relu6(BN(W_head x)))`` with x the 320-D output of the last block, so their variation is
driven by the 320-D column space of the BN-scaled head conv ``diag(gamma / sqrt(var + eps)) W_head``.
We project onto its top-128 left singular vectors (signs fixed so the largest entry of each is
positive), without centring, then L2-normalise. It lost to the plain 1280-D features on every set
measured since (table above); choosing it on the 59 training classes below overfitted the choice.

Measured with leave-one-out retrieval, cosine similarity, squash-resize, on flowers102
(/work/shared/data/flowers102, the Udacity training split as shipped; R@1 / mAP):

=====================================================  ============  ============
projection to 128-D                                     10 classes     59 classes
                                                        (first ten,    (all, 2993
                                                        475 images)    images)
=====================================================  ============  ============
none (full 1280-D, reference)                           0.973/0.795   0.868/0.512
seeded random orthogonal (mean of 5 seeds)              0.946/0.741   0.816/0.437
top-128 right singular vectors of ImageNet classifier   0.956/0.710   0.796/0.404
  ... centred on the BN-implied feature mean            0.960/0.711   0.796/0.406
top-128 left singular vectors of BN-scaled head (used)  0.949/0.768   0.834/0.461
=====================================================  ============  ============

Centre-crop instead of squash scored the same on 59 classes (0.836/0.461), so we squash the whole
frame: an off-centre subject or a crop of a wide photo keeps all its content.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from inference.embedding.backbone import HEAD_CHANNELS, LITE0, LiteVariant, load_lite, preprocess
from inference.embedding.head import head_load
from inference.images import squash_resize
from inference.versions import DEFAULT_EMBEDDING_MODEL, EMBEDDING_DIM, EMBEDDING_VERSIONS, embedder_version

WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"


@dataclass(frozen=True)
class EmbeddingModel:
    """What an EMBEDDING_MODEL name serves: a backbone, its 128-D projection, its crop weight."""

    backbone: LiteVariant
    #: A view-whitened projection (manage.py train_view_whitening; its folder has a README), or
    #: None for the data-free projection of lite0-p128.
    projection: Path | None
    #: sha256 of that file: replacing it changes every vector, so it must come with a new version.
    projection_sha256: str | None
    #: Weight of the salient crop in the fused search vector, measured per embedder (see above).
    crop_weight: float
    #: Average a whole photo's pooled features with its mirror image's before the projection (one
    #: more backbone pass per photo; the crop is embedded as is): a photo and its mirror image are
    #: one scene for search. The projection is then fitted on mirror-averaged views too.
    mirror_whole_photo: bool = False


EMBEDDING_MODELS = {
    "lite0-vw128-mirror": EmbeddingModel(
        LITE0, WEIGHTS_DIR / "lite0-vw128-mirror" / "projection.npz",
        "3e8df709a5995c934ff5bf2ab2de866ab0923deaaea9d32dac58f8cdf3a9285b", 0.35, mirror_whole_photo=True),
    "lite0-vw128": EmbeddingModel(
        LITE0, WEIGHTS_DIR / "lite0-vw128" / "projection.npz",
        "946108fcda1a2733914b9f1fcead00b58f9b5d92d0570ed706de00246b26b375", 0.35),
    "lite0-p128": EmbeddingModel(LITE0, None, None, 0.5),
}
#: A trained head (EMBEDDING_HEAD) reads Lite0 features: train_embedder fits it on them. Its crop
#: weight and mirror averaging are recorded in its file (EmbeddingHead.crop_weight, .mirror_whole_photo).


def head_subspace_projection(model: keras.Model, dim: int) -> np.ndarray:
    """(1280, dim) orthonormal basis of the top-dim left singular vectors of the BN-scaled head conv."""
    kernel = model.get_layer("head_conv").get_weights()[0][0, 0]  # (320, 1280)
    bn = model.get_layer("head_bn")
    gamma, _, _, variance = bn.get_weights()
    scaled = kernel.T.astype(np.float64) * (gamma / np.sqrt(variance + bn.epsilon))[:, None]
    basis = np.linalg.svd(scaled, full_matrices=False)[0][:, :dim]
    # SVD signs are arbitrary; pin them so vectors stay comparable across LAPACK builds.
    signs = np.sign(basis[np.abs(basis).argmax(axis=0), np.arange(dim)])
    return (basis * signs).astype(np.float32)


def resize_for_model(image: np.ndarray, size: int = LITE0.input_size) -> np.ndarray:
    """The HxWx3 uint8 photo as the backbone reads it: the whole frame squashed to its input size."""
    return squash_resize(image, size)


def pooled_features_function(model: keras.Model, size: int = LITE0.input_size, *,
                             mirror_average: bool = False) -> tf.types.experimental.PolymorphicFunction:
    """Traced (N, size, size, 3) normalised float32 -> (N, 1280) pooled features: no retracing per call.

    mirror_average: each image's features averaged with its mirror image's (as the embedder serves
    whole photos with EmbeddingModel.mirror_whole_photo), from one backbone call on 2N images.
    """

    @tf.function(input_signature=[tf.TensorSpec((None, size, size, 3), tf.float32)])
    def features(batch: tf.Tensor) -> tf.Tensor:
        if not mirror_average:
            return model(batch, training=False)
        both = model(tf.concat([batch, tf.reverse(batch, axis=[2])], axis=0), training=False)
        plain, mirrored = tf.split(both, 2, axis=0)
        return (plain + mirrored) / 2.0

    return features


class Embedder:
    """Maps RGB photos to L2-normalised 128-D float32 vectors (cosine = dot product)."""

    dim: int = EMBEDDING_DIM

    def __init__(self, cache_dir: Path, head: Path | str | None = None, model: str = DEFAULT_EMBEDDING_MODEL) -> None:
        """head: a trained head file (EmbeddingHead.save); None or "" for the embedding model called
        ``model`` (a name in inference.versions.EMBEDDING_VERSIONS)."""
        if model not in EMBEDDING_VERSIONS:
            raise ValueError(f"EMBEDDING_MODEL={model!r} is not one of {sorted(EMBEDDING_VERSIONS)}")
        self.version = embedder_version(head, model)
        served = EMBEDDING_MODELS[model]
        projection = head or served.projection
        trained = head_load(projection, HEAD_CHANNELS, self.dim) if projection else None
        # A head file says how it is served (its crop weight, mirror averaging); a model, by its entry.
        self.crop_weight = trained.crop_weight if head else served.crop_weight
        self.mirror_whole_photo = trained.mirror_whole_photo if head else served.mirror_whole_photo
        variant = LITE0 if head else served.backbone
        self.input_size = variant.input_size
        backbone = load_lite(cache_dir, include_top=False, variant=variant)
        if trained:
            kernel, bias = tf.constant(trained.kernel), tf.constant(trained.bias)

            def project(features: tf.Tensor) -> tf.Tensor:  # EmbeddingHead.project, in TensorFlow
                rooted = tf.math.l2_normalize(tf.sqrt(tf.maximum(features, 0.0)), axis=1)
                return tf.matmul(rooted, kernel) + bias
        else:
            basis = tf.constant(head_subspace_projection(backbone, self.dim))

            def project(features: tf.Tensor) -> tf.Tensor:
                return tf.matmul(features, basis)

        # A traced function with a fixed signature: no per-call retracing or predict() overhead.
        # Row i of the batch feeds output vector vectors_of[i]: a whole photo and its mirror image
        # feed the same one, so their pooled features are averaged before the projection.
        @tf.function(input_signature=[tf.TensorSpec((None, self.input_size, self.input_size, 3), tf.float32),
                                      tf.TensorSpec((None,), tf.int32), tf.TensorSpec((), tf.int32)])
        def forward(batch: tf.Tensor, vectors_of: tf.Tensor, count: tf.Tensor) -> tf.Tensor:
            pooled = tf.math.unsorted_segment_mean(backbone(batch, training=False), vectors_of, count)
            return tf.math.l2_normalize(project(pooled), axis=1)

        self._forward = forward

    def embed(self, photos: Sequence[np.ndarray], crops: Sequence[np.ndarray] = ()) -> np.ndarray:
        """(len(photos) + len(crops), 128) float32 unit vectors, photos first, for HxWx3 uint8 RGB
        images of any sizes, in one backbone call. Photos are whole photos (mirror-averaged when the
        model says so); crops, e.g. the salient crop of a photo, are embedded as they are."""
        count = len(photos) + len(crops)
        if not count:
            return np.zeros((0, self.dim), dtype=np.float32)
        squashed = np.stack([resize_for_model(image, self.input_size) for image in [*photos, *crops]])
        vectors_of = np.arange(count)
        if self.mirror_whole_photo and photos:
            squashed = np.concatenate([squashed, squashed[: len(photos), :, ::-1]])
            vectors_of = np.concatenate([vectors_of, np.arange(len(photos))])
        return self._forward(tf.constant(preprocess(squashed)), tf.constant(vectors_of, tf.int32),
                             tf.constant(count, tf.int32)).numpy()
