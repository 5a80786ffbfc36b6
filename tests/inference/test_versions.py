"""Model versions are plain functions of the models chosen: importing them reads no setting and
hashes no file, and the configured version is worked out when first asked for."""

from __future__ import annotations

import subprocess
import sys

import pytest

from inference.configuration import configured_model_version
from inference.versions import DATA_FREE_EMBEDDER_VERSION, SALIENCY_VERSIONS, model_version
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
    settings.SALIENCY_MODEL, settings.EMBEDDING_HEAD = "spectral", ""
    assert configured_model_version() == f"{SALIENCY_VERSIONS['spectral']}+{DATA_FREE_EMBEDDER_VERSION}"
    settings.EMBEDDING_HEAD = str(tmp_path / "missing.npz")
    with pytest.raises(FileNotFoundError, match="EMBEDDING_HEAD"):
        configured_model_version()
    assert model_version(saliency_model="msinet-lite0", embedding_head=None) == (
        f"{SALIENCY_VERSIONS['msinet-lite0']}+{DATA_FREE_EMBEDDER_VERSION}")
