"""ArcFace head: retrieval metrics, the margin, folding, train_embedder, evaluate_retrieval, versions."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from inference.configuration import configured_embedding_head
from inference.embedding.arcface import ArcFaceLogits, head_build, head_fold
from inference.embedding.backbone import load_lite, preprocess
from inference.embedding.embedder import Embedder, pooled_features_function, resize_for_model
from inference.embedding.head import EmbeddingHead, HeadFileError, head_input, head_load
from inference.embedding.retrieval import retrieval_metrics
from inference.embedding.whitening import supervised_whitening
from inference.versions import (
    DATA_FREE_EMBEDDER_VERSION,
    DEFAULT_EMBEDDING_MODEL,
    EMBEDDING_VERSIONS,
    embedder_version,
)
from tests.conftest import photo_bytes


def test_retrieval_metrics_perfect_ranking() -> None:
    vectors = np.array([[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9]])
    metrics = retrieval_metrics(vectors, ["a", "a", "b", "b"])
    assert metrics["recall@1"] == metrics["mAP"] == 1.0 and metrics["queries"] == 4


def test_retrieval_metrics_by_hand() -> None:
    # Query 0 (a) ranks 2 (b, cos .99) before 1 (a, cos 0): AP 1/2, miss at 1. Query 1 (a) ranks
    # 2 (cos .11) before 0 (cos 0): AP 1/2. Query 2 is the only b: no positive, not a query.
    vectors = np.array([[1, 0], [0, 1], [0.9, 0.1]])
    metrics = retrieval_metrics(vectors, ["a", "a", "b"], ks=(1, 2))
    assert metrics == {"recall@1": 0.0, "recall@2": 1.0, "mAP": 0.5, "queries": 2}


def test_retrieval_metrics_need_a_shared_label() -> None:
    with pytest.raises(ValueError, match="shares its label"):
        retrieval_metrics(np.eye(3), ["a", "b", "c"])


def test_arcface_adds_the_margin_to_the_own_class_only() -> None:
    layer = ArcFaceLogits(num_classes=2, margin=0.3, scale=10.0)
    layer.build((None, 2))
    layer.centres.assign(np.eye(2, dtype=np.float32))
    theta = math.radians(60)
    embedding = np.array([[math.cos(theta), math.sin(theta)]], dtype=np.float32) * 3.0  # scale is ignored
    logits = np.asarray(layer(embedding, np.array([0])))
    np.testing.assert_allclose(logits[0], [10 * math.cos(theta + 0.3), 10 * math.sin(theta)], atol=1e-4)


def test_folded_head_equals_the_keras_head() -> None:
    rng = np.random.default_rng(0)
    head = head_build(input_dim=16, dim=4, dropout=0.5, initial_kernel=rng.normal(size=(16, 4)))
    features = rng.uniform(0, 6, size=(5, 16)).astype(np.float32)  # pooled ReLU6 range
    mean = head_input(features).mean(axis=0)
    expected = np.array(head(head_input(features) - mean, training=False))  # dropout off at inference
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    np.testing.assert_allclose(head_fold(head, mean, {}).project(features), expected, atol=1e-5)


def test_supervised_whitening_keeps_the_axis_that_separates_classes() -> None:
    # Classes differ along x by 1 with within-class spread 0.1; y is large noise shared by both.
    # PCA would keep y; whitening the within-class scatter first keeps x.
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 200)
    samples = np.stack([labels + rng.normal(0, 0.1, 400), rng.normal(0, 10, 400)], axis=1)
    projection = supervised_whitening(samples - samples.mean(axis=0), labels, dim=1, shrinkage=0.0)
    direction = projection[:, 0] / np.linalg.norm(projection[:, 0])
    assert abs(direction[0]) > 0.99


def test_head_file_round_trip_and_refusals(tmp_path: Path) -> None:
    head = EmbeddingHead(np.ones((8, 4), np.float32), np.zeros(4, np.float32), {"note": "x"})
    head.save(tmp_path / "head.npz")
    loaded = head_load(tmp_path / "head.npz", input_dim=8, dim=4)
    assert loaded.meta["note"] == "x" and loaded.kernel.dtype == np.float32
    with pytest.raises(HeadFileError, match=r"expected \(1280, 128\)"):
        head_load(tmp_path / "head.npz", input_dim=1280, dim=128)
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(HeadFileError, match="not an embedding head"):
        head_load(tmp_path / "junk.npz", input_dim=8, dim=4)


def _class_folder(root: Path, classes: int = 3, per_class: int = 4) -> Path:
    """Generated photos of mixed sizes and formats, one seed family per class."""
    sizes = [(320, 240), (96, 200), (640, 360), (50, 50)]
    for label in range(classes):
        folder = root / f"class{label}"
        folder.mkdir(parents=True)
        for i in range(per_class):
            fmt = "PNG" if i == 1 else "JPEG"
            (folder / f"{i}.{fmt.lower()}").write_bytes(photo_bytes(100 * label + i, size=sizes[i % 4], fmt=fmt))
    return root


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One tiny real training run, shared: 3 classes x 4 photos of mixed sizes, 1 epoch."""
    root = tmp_path_factory.mktemp("train")
    data = _class_folder(root / "data")
    call_command("train_embedder", "--data", str(data), "--out", str(root / "out"), "--epochs", "1",
                 "--views", "2", "--val-fraction", "0.34", verbosity=0)
    return root / "out"


def test_train_embedder_writes_head_readme_and_metrics(trained: Path) -> None:
    head = head_load(trained / "head.npz", input_dim=1280, dim=128)
    assert head.meta["config"]["margin"] == 0.3 and head.meta["classes"] == 3
    with np.load(trained / "head.npz") as data:
        assert data["kernel"].dtype == np.float16
    readme = (trained / "README.md").read_text()
    assert "margin m = 0.3, scale s = 30.0" in readme and "1 epochs" in readme
    assert "held out from training" in readme  # 1 of 3 classes validated, 2 trained
    metrics = json.loads((trained / "metrics.json").read_text())
    assert len(metrics["validation_classes"]) == 1 and metrics["photos_used"] == 12
    assert set(metrics["validation_metrics"]) == {
        "arcface head (128-D)", "data-free projection (128-D)", "backbone features (1280-D)"}


def test_loading_a_head_changes_version_and_vectors(trained: Path) -> None:
    head_file = trained / "head.npz"
    assert embedder_version(None) == embedder_version("") == EMBEDDING_VERSIONS[DEFAULT_EMBEDDING_MODEL]
    assert embedder_version(None, "lite0-p128") == DATA_FREE_EMBEDDER_VERSION
    assert embedder_version(head_file) not in EMBEDDING_VERSIONS.values()
    default, with_head = Embedder(settings.MODEL_CACHE_DIR), Embedder(settings.MODEL_CACHE_DIR, head=head_file)
    assert default.version == EMBEDDING_VERSIONS[DEFAULT_EMBEDDING_MODEL]
    assert with_head.version == embedder_version(head_file)
    photo = np.asarray(np.random.default_rng(1).integers(0, 256, (120, 90, 3)), dtype=np.uint8)
    a, b = default.embed([photo])[0], with_head.embed([photo])[0]
    assert np.linalg.norm(b) == pytest.approx(1.0, abs=1e-5) and not np.allclose(a, b, atol=1e-2)
    np.testing.assert_allclose(b, with_head.embed([photo])[0], atol=1e-6)
    # Serving (TensorFlow) computes what training measured (EmbeddingHead.project in numpy).
    features = pooled_features_function(load_lite(settings.MODEL_CACHE_DIR))(preprocess(resize_for_model(photo)[None]))
    expected = head_load(head_file, input_dim=1280, dim=128).project(np.asarray(features))[0]
    np.testing.assert_allclose(b, expected, atol=1e-4)
    with pytest.raises(FileNotFoundError, match="EMBEDDING_HEAD"):
        embedder_version(trained / "missing.npz")


@pytest.fixture(scope="module")
def trained_mirror(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same tiny training run with --mirror-average and another crop weight (no validation)."""
    root = tmp_path_factory.mktemp("train-mirror")
    data = _class_folder(root / "data")
    call_command("train_embedder", "--data", str(data), "--out", str(root / "out"), "--epochs", "1",
                 "--views", "2", "--val-fraction", "0", "--mirror-average", "--crop-weight", "0.35", verbosity=0)
    return root / "out"


def _photo_and_mirror() -> tuple[np.ndarray, np.ndarray]:
    photo = np.asarray(np.random.default_rng(3).integers(0, 256, (180, 240, 3)), dtype=np.uint8)
    return photo, photo[:, ::-1]


def test_a_mirror_head_serves_a_photo_and_its_mirror_image_as_one(trained: Path, trained_mirror: Path) -> None:
    head_file = trained_mirror / "head.npz"
    head = head_load(head_file, input_dim=1280, dim=128)
    assert head.mirror_whole_photo and head.meta["config"]["mirror_average"] is True
    assert "Mirror averaging" in (trained_mirror / "README.md").read_text()
    embedder = Embedder(settings.MODEL_CACHE_DIR, head=head_file)
    assert embedder.mirror_whole_photo and embedder.version == embedder_version(head_file)
    assert embedder.crop_weight == head.crop_weight == 0.35
    assert embedder.version != embedder_version(trained / "head.npz")
    photo, mirror = _photo_and_mirror()
    whole, whole_of_mirror = embedder.embed([photo, mirror])
    np.testing.assert_allclose(whole, whole_of_mirror, atol=1e-6)
    crop, crop_of_mirror = embedder.embed([], crops=[photo, mirror])
    assert not np.allclose(crop, crop_of_mirror, atol=1e-3), "a crop is embedded as it is"
    # What training fitted on (features_extract --mirror-average) is what serving computes.
    squashed = resize_for_model(photo)
    averaged = pooled_features_function(load_lite(settings.MODEL_CACHE_DIR), mirror_average=True)(
        preprocess(squashed[None]))
    np.testing.assert_allclose(whole, head.project(np.asarray(averaged))[0], atol=1e-4)
    np.testing.assert_allclose(embedder.embed([photo], crops=[photo]), np.stack([whole, crop]), atol=1e-5)


def test_a_head_file_without_the_mirror_flag_is_served_as_before(trained: Path, tmp_path: Path) -> None:
    # Every head written before --mirror-average and --crop-weight existed has neither key in its meta.
    plain = head_load(trained / "head.npz", input_dim=1280, dim=128)
    assert plain.meta["mirror_whole_photo"] is False and plain.meta["crop_weight"] == 0.5  # the defaults
    new_keys = ("mirror_whole_photo", "crop_weight")
    legacy = EmbeddingHead(plain.kernel, plain.bias, {k: v for k, v in plain.meta.items() if k not in new_keys})
    legacy.save(tmp_path / "head.npz")
    assert not head_load(tmp_path / "head.npz", input_dim=1280, dim=128).mirror_whole_photo
    embedder = Embedder(settings.MODEL_CACHE_DIR, head=tmp_path / "head.npz")
    assert not embedder.mirror_whole_photo and embedder.crop_weight == 0.5
    photo, mirror = _photo_and_mirror()
    whole, whole_of_mirror = embedder.embed([photo, mirror])
    assert not np.allclose(whole, whole_of_mirror, atol=1e-3)
    features = pooled_features_function(load_lite(settings.MODEL_CACHE_DIR))(preprocess(resize_for_model(photo)[None]))
    np.testing.assert_allclose(whole, legacy.project(np.asarray(features))[0], atol=1e-4)


def test_embedding_head_setting_makes_a_new_model_version(trained: Path, settings) -> None:
    settings.EMBEDDING_HEAD = ""
    assert embedder_version(configured_embedding_head()) == EMBEDDING_VERSIONS[DEFAULT_EMBEDDING_MODEL]
    settings.EMBEDDING_HEAD = str(trained / "head.npz")
    assert configured_embedding_head() == str(trained / "head.npz")
    assert embedder_version(configured_embedding_head()).startswith("lite0-imagenet-arcface128-")


def test_train_embedder_refuses_a_single_class(tmp_path: Path) -> None:
    data = _class_folder(tmp_path / "data", classes=1)
    (data / "empty").mkdir()
    with pytest.raises(CommandError, match="at least 2 classes"):
        call_command("train_embedder", "--data", str(data), "--out", str(tmp_path / "out"), verbosity=0)
    assert not (tmp_path / "out").exists()


def test_train_embedder_skips_and_lists_bad_input(tmp_path: Path, capsys) -> None:
    data = _class_folder(tmp_path / "data", classes=2, per_class=3)
    (data / "empty").mkdir()
    (data / "class0" / "broken.jpg").write_bytes(b"not a photo")
    (data / "lonely").mkdir()
    (data / "lonely" / "only.jpg").write_bytes(photo_bytes(7))
    (data / "lonely" / "truncated.jpg").write_bytes(photo_bytes(8)[:200])
    for run in ("fresh", "from the features cache"):
        call_command("train_embedder", "--data", str(data), "--out", str(tmp_path / "out"), "--epochs", "1",
                     "--views", "1", "--features-cache", str(tmp_path / "features.npz"), verbosity=0)
        errors = capsys.readouterr().err
        assert "class 'empty': no photos" in errors, run
        assert "unreadable" in errors and "broken.jpg" in errors and "truncated.jpg" in errors, run
        assert "class 'lonely': 1 readable photo(s), needs 2" in errors, run
        metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
        assert metrics["classes"] == ["class0", "class1"] and metrics["photos_used"] == 6
        assert len(metrics["skipped"]) == 4, run
        assert "## Skipped input" in (tmp_path / "out" / "README.md").read_text()
    assert "reusing backbone features" in errors


def test_train_embedder_fails_when_bad_input_leaves_one_class(tmp_path: Path) -> None:
    data = _class_folder(tmp_path / "data", classes=1)
    (data / "garbage").mkdir()
    for i in range(3):
        (data / "garbage" / f"{i}.jpg").write_bytes(b"garbage")
    with pytest.raises(CommandError, match="found 1 \\(class0\\)"):
        call_command("train_embedder", "--data", str(data), "--out", str(tmp_path / "out"), "--views", "1",
                     verbosity=0)


def test_evaluate_retrieval_runs_the_pipeline(trained: Path, tmp_path: Path, capsys) -> None:
    data = _class_folder(tmp_path / "data", classes=2, per_class=3)
    (data / "class0" / "broken.jpg").write_bytes(b"garbage")
    call_command("evaluate_retrieval", str(data), "--crop-weights", "0.3", verbosity=0)
    out = capsys.readouterr()
    assert "6 photos, 2 labels" in out.out and "broken.jpg" in out.err
    for row in ("fused (served)", "whole photo", "salient crop", "fused, crop weight 0.3"):
        assert row in out.out
    assert EMBEDDING_VERSIONS[DEFAULT_EMBEDDING_MODEL] in out.out and "R@10" in out.out and "mAP" in out.out

    call_command("evaluate_retrieval", str(data), "--no-crop", "--model", "lite0-p128", verbosity=0)
    assert DATA_FREE_EMBEDDER_VERSION in capsys.readouterr().out, "the old default can still be measured"

    call_command("evaluate_retrieval", str(data), "--no-crop", "--head", str(trained / "head.npz"), verbosity=0)
    out = capsys.readouterr().out
    assert embedder_version(trained / "head.npz") in out
    assert "whole photo" in out and "salient crop" not in out


def test_evaluate_retrieval_scores_groups_with_the_holidays_protocol(tmp_path: Path, capsys) -> None:
    for group, seeds in (("scene-a", (1, 2)), ("scene-b", (3, 4, 5)), ("_distractors", (6, 7))):
        (tmp_path / group).mkdir()
        for seed in seeds:
            (tmp_path / group / f"{seed}.jpg").write_bytes(photo_bytes(seed))
    call_command("evaluate_retrieval", str(tmp_path), "--groups", "--no-crop", verbosity=0)
    out = capsys.readouterr().out
    assert "7 photos" in out and "Holidays protocol" in out and "whole photo" in out and "mAP" in out


def test_evaluate_retrieval_needs_labels(tmp_path: Path) -> None:
    for label in ("a", "b"):
        (tmp_path / label).mkdir()
        (tmp_path / label / "1.jpg").write_bytes(photo_bytes(len(label)))
    with pytest.raises(CommandError, match="2\\+ photos in each label"):
        call_command("evaluate_retrieval", str(tmp_path), "--no-crop", verbosity=0)
