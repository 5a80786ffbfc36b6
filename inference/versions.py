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
#: Embedding model name (settings.EMBEDDING_MODEL) -> the version its vectors are stored under.
#: The old default stays selectable (and keeps its version) so an install can roll back to it.
EMBEDDING_VERSIONS = {
    "lite0-vw128-mirror": "lite0-imagenet-vw128-mirror-v1",
    "lite0-vw128": "lite0-imagenet-vw128-v1",
    "lite0-p128": "lite0-imagenet-p128-v1",
}
DEFAULT_EMBEDDING_MODEL = "lite0-vw128-mirror"
#: What the pages and docs call each embedding model.
EMBEDDING_LABELS = {
    "lite0-vw128-mirror": "EfficientNet-Lite0 features of the photo and its mirror image, averaged and "
                          "view-whitened to 128-D (learned without labels on re-shot photos)",
    "lite0-vw128": "EfficientNet-Lite0 features, view-whitened to 128-D (the default before lite0-vw128-mirror)",
    "lite0-p128": "EfficientNet-Lite0 features, data-free 128-D projection (the default before lite0-vw128)",
}
DATA_FREE_EMBEDDER_VERSION = EMBEDDING_VERSIONS["lite0-p128"]
EMBEDDING_DIM = 128


def saliency_version(name: str) -> str:
    """Version of the saliency model called ``name`` (a SALIENCY_MODEL value)."""
    if name not in SALIENCY_VERSIONS:
        raise ValueError(f"SALIENCY_MODEL={name!r} is not one of {sorted(SALIENCY_VERSIONS)}")
    return SALIENCY_VERSIONS[name]


def embedder_version(head: Path | str | None = None, model: str = DEFAULT_EMBEDDING_MODEL) -> str:
    """Version of the embedder with this trained head file, else of the embedding model called
    ``model`` (an EMBEDDING_MODEL value).

    A trained head's version includes its file's hash, so enabling or replacing it is a rollout.
    """
    if not head:
        if model not in EMBEDDING_VERSIONS:
            raise ValueError(f"EMBEDDING_MODEL={model!r} is not one of {sorted(EMBEDDING_VERSIONS)}")
        return EMBEDDING_VERSIONS[model]
    if not Path(head).is_file():
        raise FileNotFoundError(f"EMBEDDING_HEAD file not found: {head}")
    return f"lite0-imagenet-arcface128-{hashlib.sha256(Path(head).read_bytes()).hexdigest()[:12]}"


def model_version(*, saliency_model: str, embedding_head: Path | str | None,
                  embedding_model: str = DEFAULT_EMBEDDING_MODEL) -> str:
    """The version stored with everything these models make: "<saliency>+<embedder>"."""
    return f"{saliency_version(saliency_model)}+{embedder_version(embedding_head, embedding_model)}"
