"""CloudEvents 1.0 envelope with Citéla's ``tenant`` extension, and its Kafka binary binding.

Binary content mode (CloudEvents Kafka protocol binding, section 3.2): every attribute is a
``ce_<name>`` header, ``content-type`` carries ``datacontenttype``, the value is the JSON data
and the message key is the tenant code so that one authority's events stay in one partition.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

SPECVERSION = "1.0"
TYPE_PATTERN = re.compile(r"^fr\.citela\.[a-z_]+(\.[a-z_]+)+\.v[0-9]+$")
TENANT_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")


class EnvelopeError(ValueError):
    """A message that is not a well-formed Citéla CloudEvent (a poison message)."""


class CloudEvent(BaseModel):
    """One event as it travels on the bus."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(default_factory=lambda: str(uuid.uuid4()), min_length=1)
    source: str = Field(min_length=1, description="URI reference of the producing service")
    type: str = Field(description="fr.citela.<area>.<entity>.<verb>.v<N>")
    specversion: str = SPECVERSION
    time: datetime = Field(default_factory=lambda: datetime.now(UTC))
    subject: str | None = None
    datacontenttype: str = "application/json"
    tenant: str = Field(description="code of the tenant (collectivité) the event belongs to")
    data: dict[str, Any] = Field(default_factory=dict)

    @field_validator("type")
    @classmethod
    def _versioned_type(cls, value: str) -> str:
        if not TYPE_PATTERN.match(value):
            raise ValueError(f"event type {value!r} is not fr.citela.<area>.<entity>.<verb>.vN")
        return value

    @field_validator("tenant")
    @classmethod
    def _tenant_code(cls, value: str) -> str:
        if not TENANT_PATTERN.match(value):
            raise ValueError(f"tenant code {value!r} must be lowercase letters, digits and -")
        return value

    @field_validator("specversion")
    @classmethod
    def _spec(cls, value: str) -> str:
        if value != SPECVERSION:
            raise ValueError(f"unsupported CloudEvents specversion {value!r}")
        return value

    @field_validator("time")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        return value if value.tzinfo else value.replace(tzinfo=UTC)


Headers = list[tuple[str, bytes]]


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z")


def to_binary(event: CloudEvent) -> tuple[bytes, bytes, Headers]:
    """(key, value, headers) for a Kafka record in binary content mode."""
    headers: Headers = [
        ("ce_specversion", event.specversion.encode()),
        ("ce_id", event.id.encode()),
        ("ce_source", event.source.encode()),
        ("ce_type", event.type.encode()),
        ("ce_time", _iso(event.time).encode()),
        ("ce_tenant", event.tenant.encode()),
        ("content-type", event.datacontenttype.encode()),
    ]
    if event.subject is not None:
        headers.append(("ce_subject", event.subject.encode()))
    value = json.dumps(event.data, ensure_ascii=False, separators=(",", ":"), default=str).encode()
    return event.tenant.encode(), value, headers


def from_binary(value: bytes | None, headers: Headers | None) -> CloudEvent:
    """Decode a binary-mode record; raise EnvelopeError for anything malformed."""
    attrs: dict[str, str] = {}
    for name, raw in headers or []:
        try:
            text = raw.decode() if isinstance(raw, bytes | bytearray) else str(raw)
        except UnicodeDecodeError as exc:
            raise EnvelopeError(f"header {name!r} is not UTF-8") from exc
        if name.startswith("ce_"):
            attrs[name[3:]] = text
        elif name == "content-type":
            attrs["datacontenttype"] = text
    missing = [a for a in ("id", "source", "type", "specversion", "tenant") if a not in attrs]
    if missing:
        raise EnvelopeError(f"missing CloudEvents headers: {', '.join('ce_' + m for m in missing)}")
    try:
        data = json.loads(value) if value else {}
    except (ValueError, UnicodeDecodeError) as exc:
        raise EnvelopeError(f"event data is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise EnvelopeError("event data must be a JSON object")
    try:
        return CloudEvent.model_validate({**attrs, "data": data})
    except ValueError as exc:
        raise EnvelopeError(f"invalid CloudEvent: {exc}") from exc
