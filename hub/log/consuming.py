"""Turning a batch of records into events; what cannot be decoded is parked, never dropped or fatal."""

from __future__ import annotations

from collections.abc import Sequence

from hub.domain.events import Event
from hub.errors import DecodeError
from hub.log.codec import EventCodec
from hub.log.dead_letters import DeadLetters
from hub.ports import Record

__all__ = ["decode_batch"]


def decode_batch(
    records: Sequence[Record], codec: EventCodec, dead_letters: DeadLetters, source: str
) -> list[tuple[Record, Event]]:
    """Decoded events in record order; undecodable records go to the dead-letter topic with the reason.

    UpstreamError (registry down) propagates: the record is fine, the hub is not, so retry later
    rather than park a good message.
    """
    decoded: list[tuple[Record, Event]] = []
    for record in records:
        try:
            decoded.append((record, codec.decode(record.value)))
        except DecodeError as exc:
            dead_letters.park(record, exc.reason, source)
    return decoded
