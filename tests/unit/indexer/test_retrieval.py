"""Pure retrieval logic: query words, fusion by mode, deduplication, citations."""

from __future__ import annotations

import pytest

from switchboard_api.knowledgebase import RetrievalSpec
from switchboard_api.resources import KnowledgeBase
from switchboard_knowledge.fusion import Hit
from switchboard_knowledge.retrieval import citation, rank
from switchboard_knowledge.store.base import StoredChunk, keywords
from switchboard_operator.checks import source_problem

pytestmark = pytest.mark.unit


def chunk(
    chunk_id: str, text: str, page: int | None = None, heading: str | None = None
) -> StoredChunk:
    return StoredChunk(chunk_id, text, "doc.md", "Handbook", page, heading)


CHUNKS = {
    "1": chunk("1", "We open at 9 am on Saturday.", heading="Saturday"),
    "2": chunk("2", "We open at 9 am on Saturday!", heading="Saturday"),  # a near-duplicate
    "3": chunk("3", "Parking is free behind the building.", page=2),
    "4": chunk("4", "A cleaning costs 95 dollars."),
}


def test_keywords_drop_stop_words_and_repeats_and_punctuation() -> None:
    assert keywords("What time do you OPEN on Saturday? open!") == ["time", "open", "saturday"]
    assert keywords('"); DROP TABLE c1; --') == ["drop", "table", "c1"]
    assert keywords("the of and") == []


def test_hybrid_rank_fuses_both_lists_and_drops_near_duplicates() -> None:
    vector = [Hit("1", 0.9), Hit("2", 0.89), Hit("3", 0.2)]
    keyword = [Hit("4", 7.0), Hit("1", 5.0)]
    passages = rank(vector, keyword, CHUNKS, RetrievalSpec(), top_k=3)
    assert [p.chunk.chunk_id for p in passages] == ["1", "4", "3"]
    assert passages[0].score == 1.0 or passages[0].score > passages[1].score


def test_modes_use_one_list_only_and_the_threshold_cuts() -> None:
    vector = [Hit("3", 0.9)]
    keyword = [Hit("4", 3.0)]
    assert [
        p.chunk.chunk_id for p in rank(vector, keyword, CHUNKS, RetrievalSpec(mode="vector"), 4)
    ] == ["3"]
    assert [
        p.chunk.chunk_id for p in rank(vector, keyword, CHUNKS, RetrievalSpec(mode="keyword"), 4)
    ] == ["4"]
    strict = RetrievalSpec(score_threshold=0.9)
    assert rank(vector, keyword, CHUNKS, strict, 4) == []


def test_citations_name_the_title_and_the_page_or_section() -> None:
    assert citation(CHUNKS["1"]) == "Handbook (Saturday)"
    assert citation(CHUNKS["3"]) == "Handbook (page 2)"
    assert citation(CHUNKS["4"]) == "Handbook"


def test_the_operator_stalls_a_knowledge_base_with_local_files() -> None:
    kb = KnowledgeBase.model_validate(
        {
            "metadata": {"name": "kb", "namespace": "acme"},
            "spec": {
                "sources": [
                    {"name": "a", "inline": {"text": "x"}},
                    {"name": "b", "files": {"path": "docs"}},
                ]
            },
        }
    )
    stall = source_problem(kb)
    assert stall is not None
    assert stall.message.startswith("spec.sources[1].files:")


def test_garbage_collection_keeps_live_previous_and_builds_in_progress() -> None:
    from datetime import UTC, datetime, timedelta

    from switchboard_knowledge.store.base import ABANDONED_AFTER, VersionRow, versions_to_drop

    now = datetime(2026, 11, 21, 12, tzinfo=UTC)
    rows = [
        VersionRow(1, "v1", "complete", now - timedelta(days=2)),
        VersionRow(2, "v2", "building", now - ABANDONED_AFTER - timedelta(minutes=1)),
        VersionRow(3, "v3", "complete", now - timedelta(days=1)),
        VersionRow(4, "v4", "complete", now - timedelta(hours=1)),
        VersionRow(5, "v5", "building", now - timedelta(minutes=5)),  # another Job writing
    ]
    assert [r.name for r in versions_to_drop(rows, live=4, keep_previous=1, now=now)] == [
        "v2",
        "v1",
    ]
    assert [r.name for r in versions_to_drop(rows, live=1, keep_previous=0, now=now)] == [
        "v4",
        "v3",
        "v2",
    ]
    assert versions_to_drop(rows, live=None, keep_previous=5, now=now) == [rows[1]]
