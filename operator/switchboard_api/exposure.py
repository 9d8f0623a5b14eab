"""`VoiceAgent.spec.exposure`: how an agent is reached from outside the cluster.

The operator renders, per agent, a Gateway API `HTTPRoute` (WebSocket calls and the `/v1/` API)
and `GRPCRoute` (the call service) where the Gateway API is installed, or `Ingress` objects
where it is not, plus a cert-manager `Certificate` for the host when an issuer is named.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from switchboard_api._base import DNS_LABEL, ApiModel, ObjectName, cel, check, validations

#: A DNS-1123 subdomain (lower case, labels of at most 63 characters), no wildcard: the status
#: URLs name one concrete host.
HOSTNAME_PATTERN = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$"
#: Gateway API's `SectionName` (a listener's name).
SECTION_NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"

_NOT_AN_ADDRESS = cel(
    "!self.hostname.matches('^[0-9.]+$')",
    message="exposure.hostname must be a DNS name, not an IP address",
    field_path=".hostname",
    reason="FieldValueInvalid",
)


class ParentRef(ApiModel):
    """A Gateway the routes attach to (Gateway API `ParentReference`, kind Gateway)."""

    name: ObjectName
    namespace: Annotated[str, Field(max_length=63, pattern=DNS_LABEL)] | None = None
    section_name: (
        Annotated[
            str,
            Field(
                max_length=253,
                pattern=SECTION_NAME_PATTERN,
                description="One listener of the Gateway (by name); all of them when unset.",
            ),
        ]
        | None
    ) = None


class IssuerRef(ApiModel):
    """A cert-manager issuer that signs the host's certificate."""

    name: ObjectName
    kind: Literal["Issuer", "ClusterIssuer"] = "Issuer"


class ExposureTls(ApiModel):
    """The host's certificate: the Secret the listener or Ingress serves, and who issues it."""

    secret_name: Annotated[
        ObjectName,
        Field(
            description="The `kubernetes.io/tls` Secret in the agent's namespace. The Ingress "
            "names it; a Gateway's listener must reference it itself (a ReferenceGrant lets a "
            "Gateway in another namespace read it)."
        ),
    ]
    issuer_ref: Annotated[
        IssuerRef | None,
        Field(
            description="Have cert-manager issue the Secret (a Certificate the operator keeps); "
            "without cert-manager's CRDs the agent says the Secret must be provided another way."
        ),
    ] = None


class ExposureSpec(ApiModel, json_schema_extra=validations(_NOT_AN_ADDRESS)):
    """Routes from outside the cluster to the agent's gateway; the status shows external URLs."""

    hostname: Annotated[str, Field(min_length=1, max_length=253, pattern=HOSTNAME_PATTERN)]
    parent_refs: Annotated[
        list[ParentRef],
        Field(
            max_length=32,
            description="Gateways the HTTPRoute and GRPCRoute attach to (Gateway API only; "
            "an Ingress is picked by ingressClassName instead).",
        ),
    ] = []
    ingress_class_name: (
        Annotated[
            str,
            Field(
                max_length=253,
                pattern=HOSTNAME_PATTERN,
                description="The IngressClass of the Ingress rendered where the Gateway API is not "
                "installed (the cluster's default class when unset).",
            ),
        ]
        | None
    ) = None
    tls: Annotated[
        ExposureTls | None,
        Field(description="Serve the host over TLS (external URLs wss:// and https://)."),
    ] = None

    @model_validator(mode="after")
    def _rules(self) -> ExposureSpec:
        check(_NOT_AN_ADDRESS, not self.hostname.replace(".", "").isdigit())
        return self
