"""Model versions, importable without TensorFlow or Django (web processes need them to read results).

Every stored map and vector records the version that made it, and search compares only vectors
of one version. Bump a version whenever its model's output changes: the sweep then re-analyses
every photo in the background.

The saliency version follows the chosen model, so switching models is a new version too. Which
models this process is configured with (and so its version) is the Django side's business:
inference.configuration. Importing this module reads no setting and hashes no file.
"""

import hashlib
from pathlib import Path

#: Saliency model name (settings.SALIENCY_MODEL) -> the version its maps are stored under.
SALIENCY_VERSIONS = {
    "msinet-lite0": "msinet-lite0-osie-nus-v1",
    "msinet-vgg16": "msinet-vgg16-salicon-v1",
    "spectral": "spectral-residual-cb-v1",
}
DEFAULT_SALIENCY_MODEL = "msinet-lite0"
#: What the pages call each saliency model.
SALIENCY_LABELS = {
    "msinet-lite0": "MSI-Net with an EfficientNet-Lite0 encoder, trained here on OSIE and NUS scene fixations",
    "msinet-vgg16": "MSI-Net (VGG16), the authors' SALICON-trained weights",
    "spectral": "spectral residual with a centre prior (training-free)",
}
DATA_FREE_EMBEDDER_VERSION = "lite0-imagenet-p128-v1"
EMBEDDING_DIM = 128


def saliency_version(name: str) -> str:
    """Version of the saliency model called ``name`` (a SALIENCY_MODEL value)."""
    if name not in SALIENCY_VERSIONS:
        raise ValueError(f"SALIENCY_MODEL={name!r} is not one of {sorted(SALIENCY_VERSIONS)}")
    return SALIENCY_VERSIONS[name]


def embedder_version(head: Path | str | None = None) -> str:
    """Version of the embedder with this trained head file (None or "": the data-free projection).

    A trained head's version includes its file's hash, so enabling or replacing it is a rollout.
    """
    if not head:
        return DATA_FREE_EMBEDDER_VERSION
    if not Path(head).is_file():
        raise FileNotFoundError(f"EMBEDDING_HEAD file not found: {head}")
    return f"lite0-imagenet-arcface128-{hashlib.sha256(Path(head).read_bytes()).hexdigest()[:12]}"


def model_version(*, saliency_model: str, embedding_head: Path | str | None) -> str:
    """The version stored with everything these two models make: "<saliency>+<embedder>"."""
    return f"{saliency_version(saliency_model)}+{embedder_version(embedding_head)}"
