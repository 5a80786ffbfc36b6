"""Model versions are plain functions of the models chosen: importing them reads no setting and
hashes no file, and the configured version is worked out when first asked for."""

from __future__ import annotations

import subprocess
import sys

import pytest

from inference.configuration import configured_model_version
from inference.versions import (
    DATA_FREE_EMBEDDER_VERSION,
    DEFAULT_EMBEDDING_MODEL,
    EMBEDDING_VERSIONS,
    SALIENCY_VERSIONS,
    model_version,
)
from tests.conftest import ROOT


def test_importing_versions_and_model_code_reads_no_setting(tmp_path):
    # A head file that does not exist: hashing it at import (as before) would fail right here.
    env = {"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "gallery.config.settings.base",
           "EMBEDDING_HEAD": str(tmp_path / "missing.npz"), "GALLERY_VAR_DIR": str(tmp_path / "var")}
    code = ("import sys, inference.versions, inference.saliency.models, inference.images, inference.overlays; "
            "print('django' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_the_configured_version_follows_the_settings(settings, tmp_path):
    settings.SALIENCY_MODEL, settings.EMBEDDING_HEAD, settings.EMBEDDING_MODEL = "spectral", "", "lite0-p128"
    assert configured_model_version() == f"{SALIENCY_VERSIONS['spectral']}+{DATA_FREE_EMBEDDER_VERSION}"
    settings.EMBEDDING_MODEL = "lite0-vw128"
    assert configured_model_version() == f"{SALIENCY_VERSIONS['spectral']}+lite0-imagenet-vw128-v1"
    settings.EMBEDDING_MODEL = "lite0-vw128-mirror"
    assert configured_model_version() == f"{SALIENCY_VERSIONS['spectral']}+lite0-imagenet-vw128-mirror-v1"
    settings.EMBEDDING_MODEL = "lite0-nonesuch"
    with pytest.raises(ValueError, match="EMBEDDING_MODEL"):
        configured_model_version()
    settings.EMBEDDING_MODEL = "lite0-p128"
    settings.EMBEDDING_HEAD = str(tmp_path / "missing.npz")
    with pytest.raises(FileNotFoundError, match="EMBEDDING_HEAD"):
        configured_model_version()
    assert model_version(saliency_model="msinet-lite0", embedding_head=None) == (
        f"{SALIENCY_VERSIONS['msinet-lite0']}+{EMBEDDING_VERSIONS[DEFAULT_EMBEDDING_MODEL]}")
    assert model_version(saliency_model="msinet-lite0", embedding_head=None, embedding_model="lite0-p128") == (
        f"{SALIENCY_VERSIONS['msinet-lite0']}+{DATA_FREE_EMBEDDER_VERSION}"), "the old default keeps its version"
    assert model_version(saliency_model="msinet-lite0", embedding_head=None, embedding_model="lite0-vw128") == (
        f"{SALIENCY_VERSIONS['msinet-lite0']}+lite0-imagenet-vw128-v1"), "so does the one before this default"


def test_the_default_is_the_mirror_averaged_view_whitened_embedder_and_its_weights_are_pinned():
    from hashlib import sha256

    from inference.embedding.embedder import EMBEDDING_MODELS

    assert DEFAULT_EMBEDDING_MODEL == "lite0-vw128-mirror"
    assert EMBEDDING_MODELS[DEFAULT_EMBEDDING_MODEL].mirror_whole_photo
    assert not any(m.mirror_whole_photo for name, m in EMBEDDING_MODELS.items() if name != DEFAULT_EMBEDDING_MODEL)
    assert set(EMBEDDING_MODELS) == set(EMBEDDING_VERSIONS)
    pinned = {name: model for name, model in EMBEDDING_MODELS.items() if model.projection}
    assert DEFAULT_EMBEDDING_MODEL in pinned
    for model in pinned.values():
        # New weights change every vector: they must come with a new version (and this pin).
        assert sha256(model.projection.read_bytes()).hexdigest() == model.projection_sha256


@pytest.mark.django_db
def test_every_page_names_the_configured_embedder(client, settings):
    from inference.versions import EMBEDDING_LABELS

    for model in ("lite0-vw128-mirror", "lite0-vw128", "lite0-p128"):
        settings.EMBEDDING_MODEL = model
        assert EMBEDDING_LABELS[model] in client.get("/").content.decode()
