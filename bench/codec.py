"""Codec throughput on a realistic mix of event types, next to bare fastavro on the same records.

    ./dev python bench/codec.py [--events 50000] [--rounds 3]

Prints figures, then one JSON line: encode_per_s, decode_per_s, fastavro_encode_per_s, fastavro_decode_per_s
(best of the rounds; per-record calls, one BytesIO each, as the log adapter does).
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import time
from collections import Counter
from collections.abc import Callable

import fastavro

from hub.domain.events import Event, event_id_for
from hub.log.codec import EventCodec
from hub.log.schemas import SchemaSet
from simulators.sample_dossiers import sample_dossiers


def realistic_mix(count: int) -> list[Event]:
    """The demo's dossier lives (13 event types from 4 systems) repeated over distinct dossier codes."""
    template = sample_dossiers(b"bench-identity-key-0123")
    events = []
    for i in range(count):
        base = template[i % len(template)]
        code = f"000.00.20.H56-2606{(i // 10_000) % 28 + 1:02d}-{i % 10_000:04d}"
        ref = f"{code}/{i}"
        event_id = event_id_for(base.source_system.value, ref, base.event_type.value)
        events.append(dataclasses.replace(base, dossier_code=code, source_ref=ref, event_id=event_id))
    return events


def best_rate(count: int, rounds: int, work: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - started)
    return count / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    schemas = SchemaSet()
    codec = EventCodec(schemas)
    events = realistic_mix(args.events)
    encoded = [codec.encode(e) for e in events]
    records = [codec.to_record(e) for e in events]
    bodies = [b[10:] for b in encoded]
    parsed = schemas.current.parsed

    def bare_encode() -> None:
        for record in records:
            buf = io.BytesIO()
            fastavro.schemaless_writer(buf, parsed, record)
            buf.getvalue()

    def bare_decode() -> None:
        for body in bodies:
            fastavro.schemaless_reader(
                io.BytesIO(body), parsed, None, return_record_name=True, return_record_name_override=True
            )

    def hub_encode() -> None:
        for event in events:
            codec.encode(event)

    def hub_decode() -> None:
        for data in encoded:
            codec.decode(data)

    n, r = args.events, args.rounds
    figures = {
        "encode_per_s": round(best_rate(n, r, hub_encode)),
        "decode_per_s": round(best_rate(n, r, hub_decode)),
        "fastavro_encode_per_s": round(best_rate(n, r, bare_encode)),
        "fastavro_decode_per_s": round(best_rate(n, r, bare_decode)),
    }
    sizes = sorted(len(b) for b in encoded)
    kinds = Counter(e.event_type.value for e in events)
    print(f"{n} events, {len(kinds)} event types, median {sizes[len(sizes) // 2]} bytes (max {sizes[-1]})")
    print(f"encode  hub {figures['encode_per_s']:>9,}/s   bare fastavro {figures['fastavro_encode_per_s']:>9,}/s")
    print(f"decode  hub {figures['decode_per_s']:>9,}/s   bare fastavro {figures['fastavro_decode_per_s']:>9,}/s")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
