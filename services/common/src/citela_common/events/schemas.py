"""Export the event contract as JSON Schema files that partner developers can read."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from citela_common.events.envelope import CloudEvent
from citela_common.events.models import EVENT_MODELS


def event_schema(event_type: str) -> dict[str, Any]:
    """The JSON Schema of one event type: the envelope with its typed ``data``."""
    model = EVENT_MODELS[event_type]
    envelope = CloudEvent.model_json_schema()
    data = model.model_json_schema(ref_template="#/$defs/{model}")
    defs = {**envelope.pop("$defs", {}), **data.pop("$defs", {})}
    envelope["properties"]["type"] = {"const": event_type, "type": "string"}
    envelope["properties"]["data"] = data
    envelope["required"] = sorted({*envelope.get("required", []), "data", "type"})
    schema: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://citela.fr/schemas/events/{event_type}.json",
        **envelope,
        "title": event_type,
        "description": (model.__doc__ or "").strip(),
        "x-kafka-topic": model.topic,
        "x-kafka-key": "tenant code",
    }
    if defs:
        schema["$defs"] = defs
    return schema


def export_schemas(folder: Path) -> list[Path]:
    """Write one ``<type>.json`` per event type and an ``index.json``; return the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    index = []
    for event_type in sorted(EVENT_MODELS):
        path = folder / f"{event_type}.json"
        path.write_text(
            json.dumps(event_schema(event_type), ensure_ascii=False, indent=2, sort_keys=True)
            + "\n",
            encoding="utf-8",
        )
        written.append(path)
        index.append(
            {"type": event_type, "topic": EVENT_MODELS[event_type].topic, "schema": path.name}
        )
    index_path = folder / "index.json"
    index_path.write_text(json.dumps(index, ensure_ascii=False, indent=2) + "\n", "utf-8")
    written.append(index_path)
    return written
