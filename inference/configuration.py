"""The models this process's settings choose, and the version they make: the Django side of
inference.versions, read when asked (never at import), so model code takes its choices as
arguments and importing settings hashes no file."""

from __future__ import annotations

import functools
from pathlib import Path

from django.conf import settings

from inference.versions import DEFAULT_EMBEDDING_MODEL, model_version


def configured_saliency_model() -> tuple[str, Path | None]:
    """(SALIENCY_MODEL, SALIENCY_VGG16_PATH): the saliency model to load, and where the VGG16
    SavedModel is when that is the one."""
    vgg16_path = settings.SALIENCY_VGG16_PATH
    return settings.SALIENCY_MODEL, Path(vgg16_path) if vgg16_path else None


def configured_embedding_head() -> str:
    """The EMBEDDING_HEAD setting: a trained head file, or "" for the EMBEDDING_MODEL."""
    return settings.EMBEDDING_HEAD or ""


def configured_embedding_model() -> str:
    """The EMBEDDING_MODEL setting: the general-purpose embedder used when no head is set."""
    return settings.EMBEDDING_MODEL or DEFAULT_EMBEDDING_MODEL


def configured_model_version() -> str:
    """The version the configured models make. A trained head's file is hashed once per process
    (and again only if the settings name another file)."""
    return _model_version(configured_saliency_model()[0], configured_embedding_head(), configured_embedding_model())


@functools.cache
def _model_version(saliency_model: str, embedding_head: str, embedding_model: str) -> str:
    return model_version(saliency_model=saliency_model, embedding_head=embedding_head or None,
                         embedding_model=embedding_model)
