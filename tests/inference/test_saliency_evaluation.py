"""Fixation datasets, the evaluation and the saliency commands, on tiny folders made here."""

import numpy as np
import PIL.Image
import pytest
from django.core.management import CommandError, call_command

from inference.configuration import configured_model_version
from inference.saliency.data import DatasetError, dataset_samples, split_samples
from inference.saliency.evaluation import evaluate_saliency
from inference.saliency.metrics import centre_bias_map
from inference.versions import SALIENCY_VERSIONS


def make_dataset(root, count: int = 5, size: tuple[int, int] = (32, 24)):
    """count images with a fixation at a seeded place and a blurred density around it."""
    width, height = size
    for sub in ("images", "maps", "fixations"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:height, 0:width]
    for i in range(count):
        y, x = rng.integers(2, height - 2), rng.integers(2, width - 2)
        image = np.full((height, width, 3), 60, np.uint8)
        image[y - 2 : y + 3, x - 2 : x + 3] = 250
        fixations = np.zeros((height, width), np.uint8)
        fixations[y, x] = fixations[height // 2, width // 2] = 255
        density = np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / 8.0)
        PIL.Image.fromarray(image).save(root / "images" / f"{i:03}.jpg")
        PIL.Image.fromarray((density * 255).astype(np.uint8)).save(root / "maps" / f"{i:03}.png")
        PIL.Image.fromarray(fixations).save(root / "fixations" / f"{i:03}.png")
    return root


def test_split_holds_out_every_fifth_image(tmp_path) -> None:
    samples = dataset_samples(make_dataset(tmp_path / "set", count=10))
    val = split_samples(samples, "val")
    assert [s.name for s in val] == ["004", "009"]
    assert len(split_samples(samples, "train")) == 8 and len(split_samples(samples, "all")) == 10


def test_missing_map_is_an_error_naming_the_file(tmp_path) -> None:
    root = make_dataset(tmp_path / "set")
    (root / "maps" / "002.png").unlink()
    with pytest.raises(DatasetError, match="maps/002.png"):
        dataset_samples(root)
    with pytest.raises(CommandError, match="maps/002.png"):
        call_command("evaluate_saliency", str(root), "--model", "spectral", verbosity=0)


def test_centre_prediction_scores_like_the_centre_baseline(tmp_path) -> None:
    root = make_dataset(tmp_path / "set")
    means, count = evaluate_saliency(root, lambda rgb: centre_bias_map(*rgb.shape[:2]), split="all")
    assert count == 5
    assert means["model"] == pytest.approx(means["centre"])

    def oracle(rgb):  # the bright square is where people look
        return rgb[..., 0].astype(np.float32)

    better, _ = evaluate_saliency(root, oracle, split="all")
    assert better["model"]["CC"] > better["centre"]["CC"]
    assert better["model"]["KLD"] < better["centre"]["KLD"]


def test_evaluate_command_prints_every_metric_for_both(tmp_path, capsys) -> None:
    root = make_dataset(tmp_path / "set")
    call_command("evaluate_saliency", str(root), "--model", "spectral", "--split", "all", verbosity=0)
    out = capsys.readouterr().out
    assert "set, split all, 5 images" in out
    for metric in ("AUC-Judd", "sAUC", "NSS", "CC", "KLD", "SIM"):
        assert len(out.split(metric)[1].split("\n")[0].split()) == 2


def test_train_command_trains_checkpoints_and_resumes(tmp_path, capsys) -> None:
    root = make_dataset(tmp_path / "set", count=5, size=(64, 48))
    out = tmp_path / "run"
    call_command("train_saliency", "--data", str(root), "--out", str(out), "--epochs", "1", verbosity=0)
    assert (out / "checkpoint.npz").is_file() and (out / "msinet_lite0_head.f16.npz").is_file()
    call_command("train_saliency", "--data", str(root), "--out", str(out), "--epochs", "2", verbosity=0)
    assert "resumed" in capsys.readouterr().out
    assert len((out / "history.jsonl").read_text().splitlines()) == 2


def test_default_saliency_version_is_the_trained_model() -> None:
    assert configured_model_version().startswith(SALIENCY_VERSIONS["msinet-lite0"] + "+")
