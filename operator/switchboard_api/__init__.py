"""Switchboard's typed API: the `switchboard.dev/v1alpha1` custom resources and derived configs.

Every other package imports these models; they generate the CRD YAML, so a shape is defined once.
This package depends on pydantic and PyYAML only (enforced by import-linter).
"""

from switchboard_api._base import API_VERSION, GROUP, VERSION
from switchboard_api.knowledgebase import KnowledgeBaseSpec, KnowledgeBaseStatus
from switchboard_api.resources import RESOURCES, KnowledgeBase, Tenant, VoiceAgent
from switchboard_api.tenant import TenantSpec, TenantStatus
from switchboard_api.voiceagent import VoiceAgentSpec, VoiceAgentStatus

__all__ = [
    "API_VERSION",
    "GROUP",
    "RESOURCES",
    "VERSION",
    "KnowledgeBase",
    "KnowledgeBaseSpec",
    "KnowledgeBaseStatus",
    "Tenant",
    "TenantSpec",
    "TenantStatus",
    "VoiceAgent",
    "VoiceAgentSpec",
    "VoiceAgentStatus",
]
