"""Installing the authors' MSI-Net (VGG16, trained on SALICON) under var/.

The authors publish it on their Hugging Face hub page as a TensorFlow SavedModel whose
``serving_default`` signature maps a float32 RGB image in 0..255, (1, H, W, 3), to a saliency map
(1, H, W, 1). No checksum is published, so a download is verified structurally: it must load
and have that signature. Nothing is installed until it passes, and an installed model is swapped
in with a rename, so a failed or interrupted fetch never breaks the one in place.
"""

from __future__ import annotations

import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from inference.saliency.models import SaliencyModelError, savedmodel_signature_load

MSINET_VGG16_HUB_PAGE = "https://huggingface.co/alexanderkroner/MSI-Net"
MSINET_VGG16_BASE_URL = f"{MSINET_VGG16_HUB_PAGE}/resolve/main/"
#: saved_model.pb is required; the variables files exist only if the graph keeps variables apart.
MSINET_VGG16_FILES = ("saved_model.pb", "variables/variables.index", "variables/variables.data-00000-of-00001")
DOWNLOAD_TIMEOUT_S = 30


class FetchError(RuntimeError):
    """The model could not be downloaded, unpacked or verified; the message says what to do."""


def _offline_help(target: Path) -> str:
    return (
        f"Download the files of {MSINET_VGG16_HUB_PAGE} (saved_model.pb, and variables/ if present) on a "
        f"machine with internet access, then run `python manage.py fetch_models msinet-vgg16 --from-dir DIR` "
        f"(or `--from-archive FILE.zip|FILE.tar.gz`) to verify and install them in {target}. "
        f"The gallery keeps working on its default saliency model meanwhile."
    )


def _download(staging: Path, target: Path) -> None:
    for name in MSINET_VGG16_FILES:
        url = MSINET_VGG16_BASE_URL + name
        destination = staging / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        try:
            with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response, destination.open("wb") as out:
                shutil.copyfileobj(response, out)
        except urllib.error.HTTPError as exc:
            if exc.code == 404 and name != "saved_model.pb":
                destination.unlink(missing_ok=True)
                continue
            raise FetchError(f"downloading {url} failed: HTTP {exc.code}. {_offline_help(target)}") from exc
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise FetchError(f"cannot download {url}: {exc}. {_offline_help(target)}") from exc


def _unpack(archive: Path, staging: Path) -> None:
    if not archive.is_file():
        raise FetchError(f"archive not found: {archive}")
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zipped:
                zipped.extractall(staging)
        else:
            with tarfile.open(archive) as tar:
                tar.extractall(staging, filter="data")  # refuses absolute paths and links out of staging
    except (tarfile.TarError, zipfile.BadZipFile, OSError) as exc:
        raise FetchError(f"cannot unpack {archive}: {exc}") from exc


def _savedmodel_root(folder: Path) -> Path:
    """The directory under ``folder`` that holds saved_model.pb (archives often wrap it)."""
    found = sorted(folder.rglob("saved_model.pb"), key=lambda p: len(p.parts))
    if not found:
        raise FetchError(f"no saved_model.pb in {folder}")
    return found[0].parent


def fetch_msinet_vgg16(target: Path, *, from_dir: Path | None = None, from_archive: Path | None = None) -> Path:
    """Download (or copy from a folder or archive), verify and install the authors' SavedModel."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{target.name}.") as tmp:
        staging = Path(tmp) / "staging"
        staging.mkdir()
        if from_dir is not None:
            if not Path(from_dir).is_dir():
                raise FetchError(f"{from_dir} is not a directory")
            shutil.copytree(_savedmodel_root(Path(from_dir)), staging, dirs_exist_ok=True)
        elif from_archive is not None:
            _unpack(Path(from_archive), staging)
        else:
            _download(staging, target)
        root = _savedmodel_root(staging)
        try:
            savedmodel_signature_load(root)
        except SaliencyModelError as exc:
            raise FetchError(f"verification failed, nothing installed: {exc}") from exc
        previous = Path(tmp) / "previous"
        if target.exists():
            target.rename(previous)
        root.rename(target)
    return target
