"""The event contract: envelope, typed payloads, JSON Schema export."""

from citela_common.events.envelope import CloudEvent, EnvelopeError, from_binary, to_binary
from citela_common.events.models import EVENT_MODELS, EventData, make_event, parse_data

__all__ = [
    "EVENT_MODELS",
    "CloudEvent",
    "EnvelopeError",
    "EventData",
    "from_binary",
    "make_event",
    "parse_data",
    "to_binary",
]
