from __future__ import annotations

import pytest

from switchboard_knowledge.fusion import RRF_K, Hit, fuse

pytestmark = pytest.mark.unit


def hits(*ids: str) -> list[Hit]:
    return [Hit(i, 1.0 - n / 10) for n, i in enumerate(ids)]


def test_rrf_rewards_agreement_and_deduplicates() -> None:
    fused = fuse(hits("a", "b", "c"), hits("c", "d", "a"), top_k=10)
    assert [h.chunk_id for h in fused][:2] == ["a", "c"]
    assert len({h.chunk_id for h in fused}) == len(fused) == 4
    assert fused[0].score == pytest.approx((1 / (RRF_K + 1) + 1 / (RRF_K + 3)) / (2 / (RRF_K + 1)))


def test_weights_pick_a_side() -> None:
    assert fuse(hits("v"), hits("k"), vector_weight=1.0, top_k=1)[0].chunk_id == "v"
    assert fuse(hits("v"), hits("k"), vector_weight=0.0, top_k=1)[0].chunk_id == "k"


def test_top_k_and_threshold() -> None:
    fused = fuse(hits("a", "b", "c"), hits("a", "b", "c"), top_k=2)
    assert [h.chunk_id for h in fused] == ["a", "b"]
    assert fused[0].score == pytest.approx(1.0)
    # One list at weight 0.5: the best scores 0.5, the second 0.5 * 61 / 62 ≈ 0.492.
    assert [h.chunk_id for h in fuse(hits("a", "b"), [], score_threshold=0.495)] == ["a"]


def test_weighted_mode_normalises_each_list() -> None:
    vector = [Hit("a", 0.9), Hit("b", 0.5)]
    keyword = [Hit("b", 12.0), Hit("c", 3.0)]
    fused = fuse(vector, keyword, mode="weighted", vector_weight=0.5, top_k=3)
    assert {h.chunk_id: round(h.score, 3) for h in fused} == {"a": 0.5, "b": 0.5, "c": 0.0}


def test_bad_weight() -> None:
    with pytest.raises(ValueError, match="vector_weight"):
        fuse([], [], vector_weight=1.5)
