"""Saliency-driven crop boxes.

The crop is the axis-aligned box ``B`` that maximises

    mass(B) / mass(image)  -  area(B) / area(image)

i.e. the saliency it holds beyond what a uniform map would put in the same
area (equivalently the sum of ``density - mean density`` over the box).
Why this objective:

* it is scale-free: maximising mass alone always picks the whole image,
  and mass per area always shrinks onto the single brightest pixel;
* the optimum's edges sit where the saliency density falls to the image
  mean, so a box grows over a broad salient region and stops at the
  background;
* it weighs mass, not peak height, so a broad blob outweighs a sharp spike
  holding less mass, where a box centred on the peak would pick the spike.

Each side is at least ``min_side_fraction`` of the image side so the crop
never collapses to a sliver. A map that no box beats (uniform, all zero)
gives the whole image.

The search runs on a coarse grid of at most ``GRID_CELLS`` cells a side:
block sums of the map, a summed-area table, and every box scored at once
(about 0.5 M boxes at 48 cells and the default minimum side).
"""

from __future__ import annotations

import math

import numpy as np

GRID_CELLS = 48
#: Scores are mass fractions in [-1, 1]; closer than this counts as a tie.
_TIE = 1e-9


def _cell_edges(length: int) -> np.ndarray:
    """Pixel edges of min(length, GRID_CELLS) near-equal cells."""
    cells = min(length, GRID_CELLS)
    # Integer floor division keeps edges strictly increasing (cells <= length).
    return np.arange(cells + 1) * length // cells


def _side_pairs(edges: np.ndarray, min_side: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (start, stop) of every edge pair at least ``min_side`` apart."""
    span = edges[None, :] - edges[:, None]
    return np.nonzero(span >= max(min_side, 1))


def saliency_crop_box(
    saliency: np.ndarray, *, min_side_fraction: float = 0.25
) -> tuple[int, int, int, int]:
    """Box ``(left, top, right, bottom)``, right/bottom exclusive, that holds
    the most saliency mass for its area (see the module docstring).

    Coordinates are in the map's pixels; negative or non-finite values count
    as zero mass. Ties go to the smaller box.
    """
    sal = np.asarray(saliency, dtype=np.float64)
    if sal.ndim != 2 or sal.size == 0:
        raise ValueError(f"expected a non-empty 2-D map, got shape {sal.shape}")
    if not 0.0 <= min_side_fraction <= 1.0:
        raise ValueError("min_side_fraction must be within [0, 1]")
    height, width = sal.shape
    whole = (0, 0, width, height)
    sal = np.where(np.isfinite(sal), np.maximum(sal, 0.0), 0.0)
    total = sal.sum()
    if total <= 0:
        return whole

    ys, xs = _cell_edges(height), _cell_edges(width)
    cells = np.add.reduceat(np.add.reduceat(sal, ys[:-1], axis=0), xs[:-1], axis=1)
    # Summed-area table of mass fractions at the grid corners.
    table = np.zeros((len(ys), len(xs)))
    table[1:, 1:] = cells.cumsum(axis=0).cumsum(axis=1) / total

    # The epsilon stops float error in fraction * side from adding a pixel.
    top, bottom = _side_pairs(ys, math.ceil(min_side_fraction * height - 1e-9))
    left, right = _side_pairs(xs, math.ceil(min_side_fraction * width - 1e-9))
    bands = table[bottom] - table[top]  # (row pairs, column edges): band mass left of each edge
    mass = bands[:, right] - bands[:, left]  # (row pairs, column pairs)
    area = np.outer((ys[bottom] - ys[top]) / height, (xs[right] - xs[left]) / width)
    score = mass - area

    best = score.max()
    if best <= _TIE:
        return whole
    pick = np.where(score >= best - _TIE, area, np.inf).argmin()
    row, col = divmod(int(pick), len(left))
    return int(xs[left[col]]), int(ys[top[row]]), int(xs[right[col]]), int(ys[bottom[row]])
