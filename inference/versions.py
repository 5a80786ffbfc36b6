"""Model versions, importable without TensorFlow (web processes need them to read results).

Every stored map and vector records the version that made it, and search compares only vectors
of one version. Bump a version whenever its model's output changes: the sweep then re-analyses
every photo in the background.

The saliency version follows the configured model (settings.SALIENCY_MODEL), so switching
models is a new version too.
"""

import hashlib
import os
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


def saliency_version() -> str:
    """Version of the configured saliency model (the default outside a configured Django)."""
    name = setting_or_default("SALIENCY_MODEL", DEFAULT_SALIENCY_MODEL)
    if name not in SALIENCY_VERSIONS:
        raise ValueError(f"SALIENCY_MODEL={name!r} is not one of {sorted(SALIENCY_VERSIONS)}")
    return SALIENCY_VERSIONS[name]


DATA_FREE_EMBEDDER_VERSION = "lite0-imagenet-p128-v1"


def embedder_version(head: Path | str | None = None) -> str:
    """Version of the embedder with this trained head file (None or "": the data-free projection).

    A trained head's version includes its file's hash, so enabling or replacing it is a rollout.
    """
    if not head:
        return DATA_FREE_EMBEDDER_VERSION
    if not Path(head).is_file():
        raise FileNotFoundError(f"EMBEDDING_HEAD file not found: {head}")
    return f"lite0-imagenet-arcface128-{hashlib.sha256(Path(head).read_bytes()).hexdigest()[:12]}"


def configured_embedding_head() -> str:
    """The EMBEDDING_HEAD setting ("" for the data-free projection), read when called."""
    return setting_or_default("EMBEDDING_HEAD", "") or ""


def setting_or_default(name: str, default):
    """A Django setting when settings are (or can be) configured, else the default: benchmarks
    and notebooks import this module without Django."""
    from django.conf import settings

    if not (settings.configured or os.environ.get("DJANGO_SETTINGS_MODULE")):
        return default
    return getattr(settings, name, default)


SALIENCY_VERSION = saliency_version()
EMBEDDER_VERSION = embedder_version(configured_embedding_head())
MODEL_VERSION = f"{SALIENCY_VERSION}+{EMBEDDER_VERSION}"
EMBEDDING_DIM = 128
