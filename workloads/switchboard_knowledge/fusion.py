"""Fusing vector and keyword rankings into one (pure).

Reciprocal rank fusion (Cormack et al., 2009) needs no score calibration between the two
retrievers: each list contributes `weight / (k + rank)`. The weighted mode instead mixes scores
normalised to [0, 1] per list. Scores are scaled so the best possible fused score is 1, which
makes `score_threshold` mean the same thing in both modes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

#: RRF's damping constant; 60 is the value of the original paper and common practice.
RRF_K = 60


@dataclass(frozen=True)
class Hit:
    """A chunk id with a retriever's score (higher is better)."""

    chunk_id: str
    score: float


def _normalised(hits: Sequence[Hit]) -> dict[str, float]:
    if not hits:
        return {}
    high, low = max(h.score for h in hits), min(h.score for h in hits)
    spread = high - low
    return {h.chunk_id: (h.score - low) / spread if spread else 1.0 for h in hits}


def fuse(
    vector: Sequence[Hit],
    keyword: Sequence[Hit],
    *,
    mode: Literal["rrf", "weighted"] = "rrf",
    vector_weight: float = 0.5,
    top_k: int = 4,
    score_threshold: float = 0.0,
) -> list[Hit]:
    """One ranking of both lists (each best-first), deduplicated, best `top_k` above threshold."""
    if not 0.0 <= vector_weight <= 1.0:
        raise ValueError("vector_weight must be within [0, 1]")
    weights = (vector_weight, 1.0 - vector_weight)
    scores: dict[str, float] = {}
    if mode == "rrf":
        best = sum(w / (RRF_K + 1) for w in weights)
        for weight, hits in zip(weights, (vector, keyword), strict=True):
            seen: set[str] = set()
            for rank, hit in enumerate(hits, start=1):
                if hit.chunk_id in seen:
                    continue
                seen.add(hit.chunk_id)
                scores[hit.chunk_id] = scores.get(hit.chunk_id, 0.0) + weight / (RRF_K + rank)
        scores = {c: s / best for c, s in scores.items()} if best else scores
    else:
        for weight, hits in zip(weights, (vector, keyword), strict=True):
            for chunk_id, score in _normalised(hits).items():
                scores[chunk_id] = scores.get(chunk_id, 0.0) + weight * score
    ranked = sorted(scores.items(), key=lambda item: (-item[1], item[0]))
    return [Hit(c, s) for c, s in ranked if s >= score_threshold][:top_k]
