"""Retrieval metrics, cosine similarity, pure numpy: Recall@K and mAP leave-one-out over labelled
photos (every photo queries), and the INRIA Holidays protocol over groups (one query per group)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

RECALL_KS = (1, 5, 10)
#: In a folder of groups (DIR/<group>/*.jpg), the folder of distractors: photos relevant to no query.
DISTRACTORS_FOLDER = "_distractors"
_QUERY_CHUNK = 512  # bounds the similarity block in memory: 512 x N floats per step


def retrieval_metrics(vectors: np.ndarray, labels: Sequence, ks: Sequence[int] = RECALL_KS) -> dict[str, float]:
    """Each photo queries all others: Recall@K and mAP over queries with at least one same-label photo.

    Recall@K is the share of queries with a same-label photo among the K nearest (the
    metric-learning definition); AP averages the precision at the rank of every same-label photo.
    Cosine similarity: vectors are L2-normalised here, so any scale is accepted.
    """
    vectors = np.asarray(vectors, dtype=np.float64)
    vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    labels = np.asarray(labels)
    if len(vectors) != len(labels):
        raise ValueError(f"{len(vectors)} vectors but {len(labels)} labels")
    hits = {k: [] for k in ks}
    average_precisions = []
    for start in range(0, len(vectors), _QUERY_CHUNK):
        queries = np.arange(start, min(start + _QUERY_CHUNK, len(vectors)))
        similarity = vectors[queries] @ vectors.T
        similarity[np.arange(len(queries)), queries] = -np.inf  # leave the query itself out
        order = np.argsort(-similarity, axis=1, kind="stable")[:, :-1]
        relevant = labels[order] == labels[queries][:, None]
        positives = relevant.sum(axis=1)
        keep = positives > 0
        for k in ks:
            hits[k].extend(relevant[keep, :k].any(axis=1))
        ranks = np.arange(1, relevant.shape[1] + 1)
        precision_at_hits = np.cumsum(relevant, axis=1) / ranks * relevant
        average_precisions.extend(precision_at_hits[keep].sum(axis=1) / positives[keep])
    if not average_precisions:
        raise ValueError("no photo shares its label with another: nothing to retrieve")
    metrics = {f"recall@{k}": float(np.mean(hits[k])) for k in ks}
    metrics["mAP"] = float(np.mean(average_precisions))
    metrics["queries"] = len(average_precisions)
    return metrics


def holidays_metrics(vectors: np.ndarray, groups: Sequence[str | None],
                     ks: Sequence[int] = RECALL_KS) -> dict[str, float]:
    """The INRIA Holidays protocol (Jegou et al., ECCV 2008): the first photo of each group queries
    all other photos (itself left out); AP over the rest of its group, Recall@K as above.

    ``groups[i]`` names photo i's group, None for a distractor (never a query, relevant to none).
    A group with a single photo has nothing to retrieve and is not a query.
    """
    vectors = np.asarray(vectors, dtype=np.float64)
    vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    if len(vectors) != len(groups):
        raise ValueError(f"{len(vectors)} vectors but {len(groups)} group names")
    first: dict[str, int] = {}
    sizes: dict[str, int] = {}
    for index, group in enumerate(groups):
        if group is not None:
            first.setdefault(group, index)
            sizes[group] = sizes.get(group, 0) + 1
    queries = np.array([index for group, index in first.items() if sizes[group] > 1], dtype=np.int64)
    if not len(queries):
        raise ValueError("no group has two photos: nothing to retrieve")
    # Distractors get ids no query has; every group gets one id.
    ids = {group: n for n, group in enumerate(first)}
    labels = np.array([ids[g] if g is not None else -1 - i for i, g in enumerate(groups)])
    similarity = vectors[queries] @ vectors.T
    similarity[np.arange(len(queries)), queries] = -np.inf
    order = np.argsort(-similarity, axis=1, kind="stable")[:, :-1]
    relevant = labels[order] == labels[queries][:, None]
    ranks = np.arange(1, relevant.shape[1] + 1)
    precision_at_hits = np.cumsum(relevant, axis=1) / ranks * relevant
    metrics = {f"recall@{k}": float(relevant[:, :k].any(axis=1).mean()) for k in ks}
    metrics["mAP"] = float(np.mean(precision_at_hits.sum(axis=1) / relevant.sum(axis=1)))
    metrics["queries"] = len(queries)
    return metrics


def metrics_line(name: str, metrics: dict[str, float]) -> str:
    """One aligned table row: name, R@1/5/10, mAP."""
    recalls = "  ".join(f"R@{k} {metrics[f'recall@{k}']:.3f}" for k in RECALL_KS if f"recall@{k}" in metrics)
    return f"{name:<28} {recalls}  mAP {metrics['mAP']:.3f}"
