"""Saliency metrics on maps small enough to check by hand."""

import math

import numpy as np
import pytest

from inference.images import resize_map
from inference.saliency.metrics import (
    EPS,
    auc_judd,
    auc_shuffled,
    cc,
    centre_bias_map,
    kld,
    nss,
    sim,
)

FOUR = np.array([[1.0, 2.0], [3.0, 4.0]])


def test_auc_judd_perfect_single_fixation() -> None:
    fix = np.array([[255, 0], [0, 0]], dtype=np.uint8)
    assert auc_judd(np.array([[4.0, 0.0], [0.0, 0.0]]), fix) == 1.0


def test_auc_judd_two_fixations_by_hand() -> None:
    # Thresholds 0.9 -> (fp 0, tp 1/2); 0.3 -> 3 pixels above, (fp 1/2, tp 1).
    # Area under (0,0) (0,.5) (.5,1) (1,1) = 0.5 * 0.75 + 0.5 * 1 = 0.875.
    sal = np.array([[0.9, 0.1], [0.5, 0.3]])
    fix = np.array([[True, False], [False, True]])
    assert auc_judd(sal, fix) == pytest.approx(0.875)


def test_auc_judd_uniform_and_inverted() -> None:
    fix = np.zeros((4, 4), dtype=bool)
    fix[1, 2] = fix[3, 0] = True
    assert auc_judd(np.ones((4, 4)), fix) == pytest.approx(0.5)
    # Fixations on the two lowest values: thresholds only at fixated values
    # give (0,0) (1,.5) (1,1), so, as in the MIT code, the worst is 0.25.
    sal = np.ones((4, 4))
    sal[1, 2], sal[3, 0] = 0.2, 0.1
    assert auc_judd(sal, fix) == pytest.approx(0.25)


def test_auc_judd_without_fixations_is_nan() -> None:
    assert math.isnan(auc_judd(FOUR, np.zeros((2, 2), dtype=bool)))


def test_prediction_is_resized_to_ground_truth() -> None:
    sal = np.array([[1.0, 0.0], [0.0, 0.0]])
    fix = np.zeros((8, 8), dtype=bool)
    fix[0, 0] = True
    assert auc_judd(sal, fix) == auc_judd(resize_map(sal, 8, 8), fix)
    density = np.random.default_rng(1).random((8, 8))
    assert cc(sal, density) == pytest.approx(cc(resize_map(sal, 8, 8), density))


def test_nss_by_hand() -> None:
    # mean 1, std (N-1, as MATLAB) = sqrt((9 + 1 + 1 + 1) / 3) = 2.
    sal = np.array([[4.0, 0.0], [0.0, 0.0]])
    assert nss(sal, np.array([[1, 0], [0, 0]])) == pytest.approx(1.5)
    sal = np.array([[0.9, 0.1], [0.5, 0.3]])
    expected = ((0.9 - 0.45) + (0.3 - 0.45)) / 2 / math.sqrt(0.35 / 3)
    assert nss(sal, np.array([[1, 0], [0, 1]])) == pytest.approx(expected)


def test_nss_uniform_is_zero() -> None:
    assert nss(np.full((3, 3), 0.7), np.eye(3)) == 0.0


def test_cc_by_hand() -> None:
    assert cc(FOUR, 2 * FOUR) == pytest.approx(1.0)
    assert cc(FOUR, 5 - FOUR) == pytest.approx(-1.0)
    assert cc(FOUR, np.array([[1, 0], [0, 1]])) == pytest.approx(0.0)
    # Deviations (-1.5, -.5, .5, 1.5) and (-.25, -.25, -.25, .75):
    # 1.5 / sqrt(5 * 0.75) = sqrt(3 / 5).
    assert cc(FOUR, np.array([[0, 0], [0, 255]], dtype=np.uint8)) == pytest.approx(math.sqrt(0.6))
    assert cc(np.ones((2, 2)), FOUR) == 0.0


def test_kld_by_hand() -> None:
    uniform = np.ones((2, 2))
    assert kld(uniform, np.array([[1, 0], [0, 0]])) == pytest.approx(math.log(4))
    assert kld(uniform, np.array([[1, 1], [0, 0]])) == pytest.approx(math.log(2))
    assert kld(FOUR, 3 * FOUR) == pytest.approx(0.0, abs=1e-12)
    assert EPS == 2.2204e-16


def test_sim_by_hand() -> None:
    # A constant prediction is uniform: min(1/4, 1) + 0 + 0 + 0.
    assert sim(np.ones((2, 2)), np.array([[1, 0], [0, 0]])) == pytest.approx(0.25)
    # Min-max first: (3, 1, 1, 1) -> (1, 0, 0, 0); density -> (.5, .5, 0, 0).
    assert sim(np.array([[3, 1], [1, 1]]), np.array([[2, 2], [0, 0]])) == pytest.approx(0.5)
    assert sim(FOUR, FOUR) == pytest.approx(1.0)


def test_auc_shuffled_by_hand() -> None:
    sal = np.array([[1.0, 0.0], [0.0, 0.0]])
    top_left = np.array([[1, 0], [0, 0]])
    bottom_right = np.array([[0, 0], [0, 1]])
    assert auc_shuffled(sal, top_left, bottom_right) == pytest.approx(1.0)
    assert auc_shuffled(sal, bottom_right, top_left) == pytest.approx(0.0)
    assert auc_shuffled(np.ones((2, 2)), top_left, bottom_right) == pytest.approx(0.5)
    assert math.isnan(auc_shuffled(sal, top_left, np.zeros((2, 2))))


def test_auc_shuffled_cancels_centre_bias() -> None:
    # Fixations and "other images'" fixations from the same central
    # distribution: the centre prior wins AUC-Judd but not shuffled AUC.
    rng = np.random.default_rng(0)
    height, width = 60, 80

    def central_fixations() -> np.ndarray:
        fix = np.zeros((height, width), dtype=bool)
        ys = np.clip(rng.normal(height / 2, height / 8, 300).astype(int), 0, height - 1)
        xs = np.clip(rng.normal(width / 2, width / 8, 300).astype(int), 0, width - 1)
        fix[ys, xs] = True
        return fix

    prior = centre_bias_map(height, width)
    fix, other = central_fixations(), central_fixations()
    assert auc_judd(prior, fix) > 0.8
    assert auc_shuffled(prior, fix, other, rng=3) == pytest.approx(0.5, abs=0.1)
    assert auc_shuffled(prior, fix, other, rng=3) == auc_shuffled(prior, fix, other, rng=3)


def test_centre_bias_map() -> None:
    prior = centre_bias_map(5, 9)
    assert prior.shape == (5, 9) and prior.dtype == np.float32
    assert prior[2, 4] == 1.0 and prior.argmax() == 2 * 9 + 4
    np.testing.assert_allclose(prior, prior[::-1, ::-1])
    assert centre_bias_map(1, 1)[0, 0] == 1.0


def test_auc_judd_matches_mit_loop_on_distinct_values() -> None:
    rng = np.random.default_rng(7)
    sal = rng.random((12, 15))
    fix = rng.random((12, 15)) < 0.1
    # Literal port of the loop in the MIT AUC_Judd.m (no jitter needed:
    # the values are distinct).
    s, f = sal.ravel(), fix.ravel()
    thresholds = np.sort(s[f])[::-1]
    n_fix, n_pix = len(thresholds), s.size
    tp, fp = [0.0], [0.0]
    for i, threshold in enumerate(thresholds, start=1):
        tp.append(i / n_fix)
        fp.append(((s >= threshold).sum() - i) / (n_pix - n_fix))
    expected = np.trapezoid(tp + [1.0], fp + [1.0])
    assert auc_judd(sal, fix) == pytest.approx(expected)
