"""W3C Trace Context (https://www.w3.org/TR/trace-context/): the `traceparent` every Kafka record carries.

One order's flow is one trace. Its trace id comes from the flow's correlation id, which every event's
envelope already carries (events.Envelope): the correlation id itself when it is a valid trace id (32
lowercase hex digits, not all zero, which is what the services make), else a hash of it, so every service
derives the same trace id from the same flow without sharing anything but the event. A client that sends a
`traceparent` and no X-Correlation-Id has its trace id taken as the correlation id (adapters.http.correlation),
so the flow joins the client's trace.

Each record's parent id names the message (a hash of its `message_id`): a tracing backend, or a person with
`grep`, sees which message a consumer's work came from. Records are always sampled (flags 01): the services
record no spans themselves, so there is nothing to sample away.

Pure functions on strings; no tracing library, no I/O.
"""

from __future__ import annotations

import hashlib
import re

from attrs import frozen

HEADER = "traceparent"
VERSION = "00"
SAMPLED = "01"

_HEX32 = re.compile(r"[0-9a-f]{32}")
# version-traceid-parentid-flags; a later version may append fields after a dash (the spec's rule for
# reading a version this reader does not know).
_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?")
_INVALID_TRACE_ID = "0" * 32
_INVALID_PARENT_ID = "0" * 16


@frozen
class TraceParent:
    trace_id: str
    parent_id: str
    flags: str = SAMPLED

    def header_value(self) -> bytes:
        return f"{VERSION}-{self.trace_id}-{self.parent_id}-{self.flags}".encode()


def trace_id_for(correlation_id: str) -> str:
    """The trace id of the flow with this correlation id: itself if it is one, else a hash of it."""
    if _HEX32.fullmatch(correlation_id) and correlation_id != _INVALID_TRACE_ID:
        return correlation_id
    trace_id = hashlib.blake2b(correlation_id.encode(), digest_size=16).hexdigest()
    # All zeros is invalid; a 128-bit hash lands there with probability 2**-128, but the rule is the rule.
    return trace_id if trace_id != _INVALID_TRACE_ID else "0" * 31 + "1"


def parent_id_for(message_id: str) -> str:
    """The parent id a record of this message carries: 16 hex digits of a hash of its id, never all zero."""
    parent_id = hashlib.blake2b(message_id.encode(), digest_size=8).hexdigest()
    return parent_id if parent_id != _INVALID_PARENT_ID else "0" * 15 + "1"


def for_message(correlation_id: str, message_id: str) -> TraceParent:
    """The trace context of one message of the flow `correlation_id`."""
    return TraceParent(trace_id_for(correlation_id), parent_id_for(message_id))


def parse(value: str | bytes | None) -> TraceParent | None:
    """The trace context in a `traceparent` value, or None when it is missing or invalid (the spec says to
    ignore an invalid one and start a new trace, never to refuse the request or the record)."""
    if value is None:
        return None
    if isinstance(value, bytes):
        try:
            value = value.decode("ascii")
        except UnicodeDecodeError:
            return None
    found = _TRACEPARENT.fullmatch(value.strip())
    if found is None:
        return None
    version, trace_id, parent_id, flags, rest = found.groups()
    if version == "ff" or (version == VERSION and rest is not None):
        return None
    if trace_id == _INVALID_TRACE_ID or parent_id == _INVALID_PARENT_ID:
        return None
    return TraceParent(trace_id, parent_id, flags)
