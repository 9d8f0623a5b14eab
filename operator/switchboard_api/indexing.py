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
#: The install's default store (`store.type: default`) as the operator copies it into each tenant
#: namespace that uses it: a Secret it owns, its `url` key a libpq URI (chart value
#: `knowledge.defaultStore.connectionSecretRef` names the original in the release namespace).
DEFAULT_STORE_SECRET = "switchboard-knowledge-store"  # noqa: S105 (a name)
DEFAULT_STORE_KEY = "url"
#: Comma-separated CIDRs from the Tenant's `egress.allowCIDRs` (URL sources may reach them).
EGRESS_ALLOW_ENV = "SWITCHBOARD_EGRESS_ALLOW_CIDRS"


def result_configmap(job: str) -> str:
    """The ConfigMap a Job writes its result into."""
    return f"{job}-result"


class SkippedDocument(ApiModel):
    """A document (or a whole source under `failurePolicy: skip`) left out, and why."""

    name: Annotated[str, Field(max_length=2048)]
    reason: Annotated[str, Field(max_length=MAX_TEXT)]


class IndexResult(ApiModel):
    """One finished index build: the version agents may now read, and what it holds."""

    index_version: Annotated[str, Field(min_length=1, max_length=MAX_TEXT)]
    documents: Annotated[int, Field(ge=0)]
    chunks: Annotated[int, Field(ge=0)]
    completed_at: datetime
    #: Chunks embedded by this build; the others reused embeddings of earlier builds.
    embedded: Annotated[int, Field(ge=0)] = 0
    reused: Annotated[int, Field(ge=0)] = 0
    #: At most `MAX_SKIPPED_REPORTED` of them; `skipped_total` counts all.
    skipped: Annotated[list[SkippedDocument], Field(max_length=100)] = []
    skipped_total: Annotated[int, Field(ge=0)] = 0


MAX_SKIPPED_REPORTED = 100
