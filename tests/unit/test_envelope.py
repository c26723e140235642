from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from citela_common.events import CloudEvent, EnvelopeError, from_binary, make_event, parse_data
from citela_common.events.models import EVENT_MODELS, FeedbackSubmitted
from citela_common.events.schemas import export_schemas

ROOT = Path(__file__).resolve().parents[2]


def submitted() -> FeedbackSubmitted:
    return FeedbackSubmitted(
        feedback_id="fb-1",
        entry_id="service-public:mairie-64445-01",
        author_ref="a1b2",
        channel="portal",
        satisfaction=2,
        importance=5,
        comment="Toujours fermé le samedi matin, c'est dommage.",
        submitted_at=datetime(2026, 11, 28, 9, 30, tzinfo=UTC),
    )


def test_typed_payload_round_trips_through_the_binary_binding() -> None:
    from citela_common.events import to_binary

    event = make_event(submitted(), tenant="agglo-pau", source="/citela/feedback", subject="fb-1")
    key, value, headers = to_binary(event)
    assert key == b"agglo-pau"
    assert dict(headers)["ce_type"] == b"fr.citela.feedback.submitted.v1"
    assert dict(headers)["content-type"] == b"application/json"
    assert json.loads(value)["comment"].startswith("Toujours fermé")
    back = from_binary(value, headers)
    assert back == event
    assert parse_data(back) == submitted()


@pytest.mark.parametrize(
    ("value", "headers", "reason"),
    [
        (b"{}", [], "missing CloudEvents headers"),
        (
            b"not json",
            [
                ("ce_id", b"1"),
                ("ce_source", b"/s"),
                ("ce_type", b"fr.citela.feedback.submitted.v1"),
                ("ce_specversion", b"1.0"),
                ("ce_tenant", b"agglo-pau"),
            ],
            "not JSON",
        ),
        (
            b"[1]",
            [
                ("ce_id", b"1"),
                ("ce_source", b"/s"),
                ("ce_type", b"fr.citela.feedback.submitted.v1"),
                ("ce_specversion", b"1.0"),
                ("ce_tenant", b"agglo-pau"),
            ],
            "JSON object",
        ),
        (
            b"{}",
            [
                ("ce_id", b"1"),
                ("ce_source", b"/s"),
                ("ce_type", b"feedback"),
                ("ce_specversion", b"1.0"),
                ("ce_tenant", b"agglo-pau"),
            ],
            "invalid CloudEvent",
        ),
        (
            b"{}",
            [
                ("ce_id", b"1"),
                ("ce_source", b"/s"),
                ("ce_type", b"fr.citela.feedback.submitted.v1"),
                ("ce_specversion", b"0.3"),
                ("ce_tenant", b"agglo-pau"),
            ],
            "specversion",
        ),
    ],
)
def test_malformed_records_are_refused_with_a_reason(
    value: bytes, headers: list[tuple[str, bytes]], reason: str
) -> None:
    with pytest.raises(EnvelopeError, match=reason):
        from_binary(value, headers)


def test_types_and_tenants_are_checked() -> None:
    with pytest.raises(ValidationError):
        CloudEvent(source="/s", type="fr.citela.feedback.submitted", tenant="agglo-pau")
    with pytest.raises(ValidationError):
        CloudEvent(source="/s", type="fr.citela.feedback.submitted.v1", tenant="Agglo Pau")
    with pytest.raises(ValidationError):
        FeedbackSubmitted.model_validate({**submitted().model_dump(), "satisfaction": 6})


def test_exported_schemas_describe_every_event_and_match_the_published_copy(
    tmp_path: Path,
) -> None:
    written = export_schemas(tmp_path)
    assert {p.name for p in written} == {f"{t}.json" for t in EVENT_MODELS} | {"index.json"}
    schema = json.loads((tmp_path / "fr.citela.feedback.submitted.v1.json").read_text())
    assert schema["properties"]["type"]["const"] == "fr.citela.feedback.submitted.v1"
    assert schema["x-kafka-topic"] == "citela.feedback"
    data = schema["properties"]["data"]
    assert data["properties"]["satisfaction"]["maximum"] == 5
    assert "tenant" in schema["required"]
    # The copy under docs/events is what partner developers read: it must be current.
    published = ROOT / "docs" / "events"
    for path in written:
        assert (published / path.name).read_text() == path.read_text(), (
            f"docs/events/{path.name} is stale: run `citela events export-schemas docs/events`"
        )


def test_a_schema_validates_a_real_event_with_jsonschema() -> None:
    import jsonschema

    from citela_common.events.schemas import event_schema

    event = make_event(submitted(), tenant="agglo-pau", source="/citela/feedback")
    jsonschema.validate(event.model_dump(mode="json"), event_schema(event.type))
    broken = {**event.model_dump(mode="json"), "data": {"feedback_id": "x"}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, event_schema(event.type))
