"""The contract between the operator and an indexing Job (`python -m switchboard_indexer`).

The operator mounts the KnowledgeBase at `KNOWLEDGE_BASE_PATH` and names the Job; the Job
writes an `IndexResult` as JSON under `RESULT_KEY` into the ConfigMap `result_configmap(job)`
in its namespace when it has built a complete index version, by server-side apply (its Role
allows `get`, `create` and `patch` on ConfigMaps, nothing else). The operator reads it into the
KnowledgeBase status; agents only ever see versions reported this way (blue/green).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field

from switchboard_api._base import MAX_TEXT, ApiModel

KNOWLEDGE_BASE_PATH = "/etc/switchboard/knowledgebase.yaml"
KNOWLEDGE_BASE_KEY = "knowledgebase.yaml"
RESULT_KEY = "result.json"
#: Environment variables of the Job's container.
JOB_NAME_ENV = "SWITCHBOARD_JOB_NAME"
NAMESPACE_ENV = "SWITCHBOARD_NAMESPACE"
MODEL_PLANE_URL_ENV = "SWITCHBOARD_MODEL_PLANE_URL"
STORE_URL_ENV = "SWITCHBOARD_INDEX_STORE_URL"


def result_configmap(job: str) -> str:
    """The ConfigMap a Job writes its result into."""
    return f"{job}-result"


class IndexResult(ApiModel):
    """One finished index build: the version agents may now read, and what it holds."""

    index_version: Annotated[str, Field(min_length=1, max_length=MAX_TEXT)]
    documents: Annotated[int, Field(ge=0)]
    chunks: Annotated[int, Field(ge=0)]
    completed_at: datetime
