"""The front-desk example's cluster variant carries exactly the documents of its local one."""

from __future__ import annotations

import pytest
import yaml

from switchboard_api import KnowledgeBase
from tests.cases.invalid import EXAMPLES

pytestmark = pytest.mark.unit

FRONT_DESK = EXAMPLES / "front-desk"


def test_the_cluster_knowledge_base_inlines_every_local_document_verbatim() -> None:
    cluster = KnowledgeBase.model_validate(
        yaml.safe_load(
            (FRONT_DESK.parent / "front-desk-cluster" / "knowledgebase.yaml").read_text()
        )
    )
    local = KnowledgeBase.model_validate(
        yaml.safe_load((FRONT_DESK / "knowledgebase.yaml").read_text())
    )
    assert cluster.metadata.name == local.metadata.name  # agent.yaml names it
    assert cluster.spec.store.type == "default"
    assert (cluster.spec.chunking, cluster.spec.retrieval) == (
        local.spec.chunking,
        local.spec.retrieval,
    )
    inline = {s.inline.title: s.inline.text for s in cluster.spec.sources if s.inline}
    documents = {p.name: p.read_text() for p in (FRONT_DESK / "docs").iterdir()}
    assert inline == documents
