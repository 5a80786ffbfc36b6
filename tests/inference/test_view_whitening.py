"""The pieces of the default embedder's projection that need no backbone: simulated re-shoots,
the Holidays protocol, and view whitening keeping what survives a re-shoot."""

from __future__ import annotations

import numpy as np
import pytest

from inference.embedding.head import head_input
from inference.embedding.retrieval import holidays_metrics
from inference.embedding.shots import scene_shot, scene_shot_jpeg
from inference.embedding.view_whitening import view_whitening_fit


def test_holidays_protocol_queries_the_first_photo_of_each_group_only():
    e = np.eye(4)
    # group a: query 0, its match 1 ranks first; group b: query 2, a distractor (3) outranks its match.
    vectors = np.stack([e[0], e[0] + 0.1 * e[1], e[2], e[2] + 0.5 * e[3], e[2] + 0.1 * e[3]])
    metrics = holidays_metrics(vectors, ["a", "a", "b", "b", None])
    assert metrics["queries"] == 2
    ranks_b = (1 / 2)  # b's only match comes second, after the distractor
    assert metrics["mAP"] == pytest.approx((1.0 + ranks_b) / 2)
    assert metrics["recall@1"] == pytest.approx(0.5) and metrics["recall@5"] == 1.0
    with pytest.raises(ValueError, match="nothing to retrieve"):
        holidays_metrics(vectors[:2], ["a", None])


def test_a_scene_shot_is_another_photo_of_the_same_scene():
    rng = np.random.default_rng(0)
    photo = np.asarray(rng.integers(0, 256, (240, 320, 3)), dtype=np.uint8)
    data = scene_shot_jpeg(photo, np.random.default_rng(1))
    assert data[:2] == b"\xff\xd8"
    shot = scene_shot(photo, np.random.default_rng(1))
    assert shot.dtype == np.uint8 and shot.ndim == 3 and max(shot.shape[:2]) <= 320
    again = scene_shot(photo, np.random.default_rng(1))
    assert np.array_equal(shot, again), "seeded"


@pytest.mark.parametrize("shape", [(5, 7, 3), (1, 1, 3), (3, 200, 3)])
def test_a_photo_smaller_than_a_shots_smallest_crop_still_gives_a_shot(shape):
    """Training folders hold whatever people keep, icons included: a photo a few pixels wide is
    re-shot whole instead of failing the whole training run."""
    rgb = np.random.default_rng(0).integers(0, 256, size=shape, dtype=np.uint8)
    for seed in range(20):
        shot = scene_shot(rgb, np.random.default_rng(seed), mirror=True)
        assert shot.ndim == 3 and shot.shape[2] == 3 and min(shot.shape[:2]) >= 1


def test_view_whitening_keeps_what_survives_a_reshoot_and_drops_what_does_not():
    rng = np.random.default_rng(0)
    photos, views, channels = 60, 4, 16
    identity = rng.normal(size=(photos, 1, channels)) * np.eye(channels)[0]  # axis 0: which photo
    shot_noise = rng.normal(size=(photos, views, channels)) * 3 * np.eye(channels)[1]  # axis 1: re-shoots
    features = np.abs(5 + identity + shot_noise + 0.1 * rng.normal(size=(photos, views, channels)))
    head = view_whitening_fit(features.astype(np.float32), dim=2, shrinkage=0.01, meta={"test": True})
    vectors = head.project(features.reshape(-1, channels)).reshape(photos, views, 2)
    same = np.einsum("pvd,pwd->pvw", vectors, vectors)[:, 0, 1:].mean()
    other = np.einsum("pd,qd->pq", vectors[:, 0], vectors[:, 0])[np.triu_indices(photos, 1)].mean()
    assert same > 0.6 > other, (same, other)
    assert head.kernel.shape == (channels, 2) and head.meta == {"test": True}
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=-1), 1.0, atol=1e-5)
    assert head_input(features).shape == features.shape
