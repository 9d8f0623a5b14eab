"""Call recordings in a cluster: the install's bucket for agents with `callPolicy.recording`.

Pure. The bucket is the chart value `storage.recordings` (operator settings `recordings_*`); its
credentials, a Secret in the operator's namespace with `AWS_ACCESS_KEY_ID` and
`AWS_SECRET_ACCESS_KEY`, are copied into the tenant namespace (`switchboard-recordings`) and
reach the gateway as those environment variables, which boto3 reads. Recordings are kept for
the tenant's `retention.recordingsDays` (else `transcriptsDays`).

Without a bucket, with 0 days, or while the copy fails, the gateway gets no `recordings` and
takes calls unrecorded; `RecordingsReady=False` says why (and `Ready` is False with it, like
`RecordsReady`: the agent asks for something it does not get).
"""

from __future__ import annotations

from switchboard_api import Tenant, VoiceAgent
from switchboard_api.gateway import (
    RECORDINGS_KEYS,
    RECORDINGS_SECRET,
    RecordingsConfig,
    S3RecordingsConfig,
)
from switchboard_operator.conditions import Check, Stall
from switchboard_operator.naming import LABEL_TENANT, Manifest, labels, metadata
from switchboard_operator.render.network import url_egress_rule
from switchboard_operator.settings import OperatorSettings

CHART_VALUE = "storage.recordings"
RECORDINGS_READY = "RecordingsReady"
#: AWS S3 when the chart names no endpoint (boto3's regional endpoints, all on 443).
AWS_S3_URL = "https://s3.amazonaws.com"


def wants_recordings(agent: VoiceAgent, tenant: Tenant, settings: OperatorSettings) -> bool:
    """Whether this agent's calls are recorded here: asked for, kept some days, a store exists."""
    return (
        agent.spec.call_policy.recording
        and tenant.spec.retention.recordings_kept_days > 0
        and settings.recordings_store
    )


def recordings_config(
    agent: VoiceAgent, tenant: Tenant, settings: OperatorSettings, *, copied: bool
) -> RecordingsConfig | None:
    """The gateway's `recordings`: the bucket, kept the tenant's days; None when not recorded.

    `copied`: the credentials are in the tenant namespace (without them boto3 would fail).
    """
    if not copied or not wants_recordings(agent, tenant, settings):
        return None
    bucket = S3RecordingsConfig(
        bucket=settings.recordings_bucket,
        prefix=settings.recordings_prefix,
        endpoint_url=settings.recordings_endpoint_url or None,
        region=settings.recordings_region or None,
    )
    return RecordingsConfig(s3=bucket, retention_days=tenant.spec.retention.recordings_kept_days)


def recordings_env() -> list[Manifest]:
    """boto3's credential variables from the namespace's copy (required: no copy, no pod)."""
    return [
        {"name": key, "valueFrom": {"secretKeyRef": {"name": RECORDINGS_SECRET, "key": key}}}
        for key in RECORDINGS_KEYS
    ]


def recordings_secret(namespace: str, data: dict[str, str], tenant: str) -> Manifest:
    """The credentials' copy in a tenant namespace (`data` base64, as read)."""
    component = "recordings"
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": metadata(
            RECORDINGS_SECRET,
            namespace,
            None,
            labels(component, RECORDINGS_SECRET, **{LABEL_TENANT: tenant}),
        ),
        "data": {key: data[key] for key in RECORDINGS_KEYS},
    }


def recordings_egress(settings: OperatorSettings, namespace: str) -> Manifest:
    """The egress rule to the bucket's endpoint (AWS S3: the internet on 443)."""
    return url_egress_rule(settings.recordings_endpoint_url or AWS_S3_URL, namespace)


def recordings_check(
    agent: VoiceAgent, tenant: Tenant, settings: OperatorSettings, copy_problem: Stall | None
) -> Check | None:
    """`RecordingsReady` of an agent with `callPolicy.recording` (None without it)."""
    if not agent.spec.call_policy.recording:
        return None
    unrecorded = "; calls are taken unrecorded"
    if tenant.spec.retention.recordings_kept_days <= 0:
        field = (
            "recordingsDays"
            if tenant.spec.retention.recordings_days is not None
            else ("transcriptsDays (recordingsDays unset)")
        )
        return Check(
            RECORDINGS_READY,
            False,
            "RecordingsOff",
            f"callPolicy.recording is on but Tenant {tenant.metadata.name} keeps recordings 0 "
            f"days (spec.retention.{field}){unrecorded}",
        )
    if not settings.recordings_store:
        return Check(
            RECORDINGS_READY,
            False,
            "RecordingStoreMissing",
            "callPolicy.recording is on but this install has no recordings store: set the chart "
            f"values {CHART_VALUE}.s3.bucket and {CHART_VALUE}.credentialsSecretRef.name (a "
            f"Secret with {' and '.join(RECORDINGS_KEYS)}){unrecorded}",
        )
    if copy_problem is not None:
        return Check(
            RECORDINGS_READY, False, copy_problem.reason, f"{copy_problem.message}{unrecorded}"
        )
    return Check(
        RECORDINGS_READY,
        True,
        "RecordingsStored",
        f"recordings go to bucket {settings.recordings_bucket}, kept "
        f"{tenant.spec.retention.recordings_kept_days} days",
    )
