"""Building blocks shared by every model in the API: the wire conventions and schema helpers."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

GROUP = "switchboard.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

#: Longest free-text string we accept anywhere a bound is not more specific. Bounds keep the
#: API server's CEL cost estimates finite and objects far below etcd's 1.5 MiB limit.
MAX_TEXT = 4096
MAX_NAME = 253
DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
CAMEL_IDENT = r"^[A-Z][A-Za-z0-9]*$"


class ApiModel(BaseModel):
    """Base of every API shape: camelCase on the wire, unknown fields rejected, immutable."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        validate_default=True,
    )

    def to_wire(self) -> dict[str, Any]:
        """Return the JSON-ready dict the API server stores (camelCase, no nulls)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


def cel(
    rule: str,
    *,
    message: str | None = None,
    message_expression: str | None = None,
    field_path: str | None = None,
    reason: Literal[
        "FieldValueInvalid", "FieldValueForbidden", "FieldValueRequired", "FieldValueDuplicate"
    ]
    | None = None,
) -> dict[str, str]:
    """One `x-kubernetes-validations` entry (a CEL rule the API server enforces)."""
    entry = {"rule": rule}
    if message is not None:
        entry["message"] = message
    if message_expression is not None:
        entry["messageExpression"] = message_expression
    if field_path is not None:
        entry["fieldPath"] = field_path
    if reason is not None:
        entry["reason"] = reason
    return entry


def check(rule: dict[str, str], holds: bool) -> None:
    """Enforce a CEL rule locally (in a model validator), with the server's message and path.

    The rule's predicate is written twice, in CEL for the API server and in Python here; the
    shared table of invalid objects in the tests holds both to the same answers.
    """
    if not holds:
        raise PydanticCustomError(
            "cel_rule",
            "{message}",
            {
                "message": rule.get("message", f"violates {rule['rule']}"),
                "field_path": rule.get("fieldPath", ""),
            },
        )


def validations(*rules: dict[str, str]) -> dict[str, Any]:
    """A `json_schema_extra` payload carrying CEL rules for a model or a field."""
    return {"x-kubernetes-validations": list(rules)}


def list_map(*keys: str) -> dict[str, Any]:
    """Schema extra for a list that behaves as a map keyed by `keys` (merge-friendly for SSA)."""
    return {"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": list(keys)}


#: A Kubernetes resource quantity (`500m`, `4Gi`, `2`), int-or-string as in core types.
Quantity = Annotated[
    int | str,
    WithJsonSchema(
        {
            "x-kubernetes-int-or-string": True,
            "anyOf": [{"type": "integer"}, {"type": "string"}],
            "pattern": (
                r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]"
                r"|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
            ),
        }
    ),
]

#: A name of a Kubernetes object in the same namespace (DNS subdomain).
ObjectName = Annotated[
    str,
    Field(min_length=1, max_length=MAX_NAME, pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"),
]

#: A name that becomes part of child object names, so it must stay a short DNS label.
ShortName = Annotated[str, Field(min_length=1, max_length=63, pattern=DNS_LABEL)]

Text = Annotated[str, Field(max_length=MAX_TEXT)]
