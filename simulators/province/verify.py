"""The end of a system run: everything the hub holds, compared with the ground truth and with what each
simulated system received. Returns figures and the problems found (empty when the hub kept its promises).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from connectors.dvcqg.mirror.payload import step_key
from connectors.vnpost.codes import ORDER_TYPES
from hub.domain.events import Event, EventType
from hub.settings import Settings
from projections.payments import payment_ref
from simulators.local.postgres import create_database
from simulators.paygov.simulator import FAILED, SUCCESS
from simulators.province.read_back import LOG_COLUMNS, project, read_log, read_records, snapshot, timeline_steps
from simulators.province.scenario import Simulators, Truth

__all__ = ["Verdict", "verify"]


@dataclass
class Verdict:
    figures: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def check(self, ok: bool, problem: str) -> None:
        if not ok:
            self.problems.append(problem)


def _rows(engine: sa.Engine, query: str) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.exec_driver_sql(query))


def verify(
    settings: Settings, engine: sa.Engine, server_url: str, truth: Truth, sims: Simulators, logs: Path
) -> Verdict:
    v = Verdict()
    log = read_log(settings)
    on_log = Counter(str(e.event_id) for e in log)
    by_id = {str(e.event_id): e for e in log}
    _events(v, engine, truth, on_log)
    _duplicates(v, engine, sims, by_id)
    _clean_pass(v, settings, engine, server_url, len(log))
    _mirror(v, engine, sims)
    _payments(v, engine, sims, by_id)
    _postal(v, engine, sims)
    _results(v, truth, sims)
    _forged(v, engine, sims)
    _dead_letters(v, settings, truth)
    _identity_leaks(v, settings, engine, sims, logs, log)
    return v


_DIGITS = re.compile(r"\d(?:[ .\-]?\d){8,11}")


def _identity_leaks(
    v: Verdict, settings: Settings, engine: sa.Engine, sims: Simulators, logs: Path, log: list[Event]
) -> None:
    """Every place the run wrote to or sent, searched for the world's identity numbers in any writing
    (plain, after letters, in groups): the events, the read models, the hub's own tables, the dead
    letters, what the national portal received and every process's log. None may be found."""
    numbers = sims.onestop.world.identity_numbers()
    places: dict[str, list[str]] = {
        "events": [repr(e.payload) for e in log],
        "dead_letters": [
            (r.value or b"").decode("utf-8", "replace") for r in read_records(settings, settings.dead_letter_topic)
        ],
        "portal": [repr(sims.portal.state.dossiers), repr(sims.portal.state.steps)],
        "logs": [path.read_text(encoding="utf-8", errors="replace") for path in sorted(logs.glob("*.log"))],
    }
    for table in ("v_timeline", "v_dossier", "hub_connector_state", "hub_security_events"):
        places[table] = [repr(tuple(row)) for row in _rows(engine, f"SELECT * FROM {table}")]
    found = {
        where: sum(1 for text in texts for run in _DIGITS.findall(text) if re.sub(r"\D", "", run) in numbers)
        for where, texts in places.items()
    }
    v.figures["identity_numbers_in_free_text"] = sum(1 for c in sims.onestop.world.changes if "CCCD " in str(c.fields))
    v.figures["identity_leaks"] = {where: n for where, n in found.items() if n}
    v.check(not any(found.values()), f"identity numbers found unmasked: {v.figures['identity_leaks']}")


def _events(v: Verdict, engine: sa.Engine, truth: Truth, on_log: Counter[str]) -> None:
    expected = truth.events
    projected = {r[0] for r in _rows(engine, "SELECT event_id FROM v_timeline")}
    lost = set(expected) - projected
    v.figures |= {
        "upstream_events_expected": len(expected),
        "events_processed": len(projected),
        "events_lost": len(lost),
        "log_records": sum(on_log.values()),
        "log_redeliveries": sum(on_log.values()) - len(on_log),
        "hub_events": len(projected - set(expected)),  # what the hub's own policies recorded
    }
    v.check(not lost, f"{len(lost)} upstream events never reached the timeline, e.g. {sorted(lost)[:3]}")
    unknown = projected - set(on_log)
    v.check(not unknown, f"{len(unknown)} timeline rows with no event on the log")


def _duplicates(v: Verdict, engine: sa.Engine, sims: Simulators, by_id: dict[str, Event]) -> None:
    """Twice-held rows in the read models, and anything done twice to an external system."""
    counts = {
        "timeline_rows": "SELECT count(*) - count(DISTINCT event_id) FROM v_timeline",
        "timeline_same_source_record": (
            "SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM v_timeline "
            "WHERE source_system IN ('ONESTOP', 'DVCQG') GROUP BY source_system, source_ref, event_type) AS t"
        ),
        "dossier_rows": "SELECT count(*) - count(DISTINCT dossier_code) FROM v_dossier",
        "payment_rows": "SELECT count(*) - count(DISTINCT fee_event_id) FROM v_payments",
        "postal_rows": "SELECT count(*) - count(DISTINCT dossier_code || direction) FROM v_postal",
        "result_rows": "SELECT count(*) - count(DISTINCT result_code) FROM v_results",
    }
    found = {name: int(_rows(engine, query)[0][0]) for name, query in counts.items()}
    once: dict[EventType, Callable[[Event], object]] = {
        EventType.PAYMENT_CONFIRMED: lambda e: e.payload.get("payment_ref") or e.correlation_id,
        EventType.POSTAL_ORDER_CREATED: lambda e: (e.dossier_code, e.payload["direction"]),
        EventType.RESULT_SYNCED: lambda e: e.payload["result_code"],
    }
    for kind, key in once.items():
        per = Counter(key(e) for e in by_id.values() if e.event_type is kind)
        found[f"{kind.value}_twice"] = sum(n - 1 for n in per.values())
    found["store_registrations_twice"] = sum(n - 1 for n in sims.portal.store.registrations.values() if n > 1)
    v.figures["duplicates"] = sum(found.values())
    v.figures["duplicates_by_kind"] = {k: n for k, n in found.items() if n}
    v.check(not any(found.values()), f"duplicates: {v.figures['duplicates_by_kind']}")


def _clean_pass(v: Verdict, settings: Settings, engine: sa.Engine, server_url: str, records: int) -> None:
    """The read models equal, row for row, those one clean in-process pass over the same log builds."""
    clean = create_database(server_url, prefix="clean")
    project(settings, clean, expected=records, timeout_s=900)
    ours = snapshot(str(engine.url.render_as_string(hide_password=False)), without=LOG_COLUMNS)
    theirs = snapshot(clean, without=LOG_COLUMNS)
    differing = {name: len(set(rows) ^ set(theirs[name])) for name, rows in ours.items()}
    v.figures["rows_differing_from_clean_pass"] = sum(differing.values())
    examples = []
    for name, rows in ours.items():
        only_ours, only_clean = set(rows) - set(theirs[name]), set(theirs[name]) - set(rows)
        examples += [f"{name} here: {str(r)[:400]}" for r in sorted(only_ours, key=str)[:2]]
        examples += [f"{name} clean: {str(r)[:400]}" for r in sorted(only_clean, key=str)[:2]]
    v.check(not any(differing.values()), f"read models differ from a clean pass: {differing}; {examples}")


def _mirror(v: Verdict, engine: sa.Engine, sims: Simulators) -> None:
    rows = _rows(
        engine,
        "SELECT dossier_code, national_status, mirror_pending, portal_version, mirror_version FROM v_dossier "
        "WHERE procedure_code IS NOT NULL AND (submitted_at IS NOT NULL OR received_at IS NOT NULL)",
    )
    held = sims.portal.state.dossiers
    wrong = [r[0] for r in rows if r[0] not in held or held[r[0]].get("TrangThaiHoSo") != r[1]]
    pending = [r[0] for r in rows if r[2] or r[3] != r[4]]
    extra = set(held) - {r[0] for r in rows}
    expected = timeline_steps(engine.url.render_as_string(hide_password=False))
    steps = sims.portal.state.steps
    odd = [r[0] for r in rows if Counter(step_key(s) for s in steps.get(r[0], [])) != expected.get(r[0], Counter())]
    v.check(not odd, f"{len(odd)} dossiers whose steps at the portal differ from the timeline's, e.g. {odd[:3]}")
    v.figures["mirrored_steps"] = sum(len(s) for s in steps.values())
    v.figures["mirrored_dossiers"] = len(held)
    v.check(not wrong, f"{len(wrong)} dossiers whose national status differs at the portal, e.g. {wrong[:3]}")
    v.check(not pending and not extra, f"mirror: {len(pending)} still pending, {len(extra)} unknown to the hub")


def _payments(v: Verdict, engine: sa.Engine, sims: Simulators, by_id: dict[str, Event]) -> None:
    fees = {payment_ref(str(e.event_id)): e for e in by_id.values() if e.event_type is EventType.FEE_ASSESSED}
    gateway = sims.paygov.state.transactions
    rows = {r[0]: r for r in _rows(engine, "SELECT payment_ref, state, requested_amount_vnd FROM v_payments")}
    v.figures["payments"] = len(gateway)
    v.check(set(gateway) == set(fees), f"PayGov holds {len(gateway)} transactions for {len(fees)} fees")
    mismatched = [
        ref
        for ref, t in gateway.items()
        if ref not in rows
        or rows[ref][2] != t.amount
        or rows[ref][1] != {SUCCESS: "paid", FAILED: "failed"}.get(t.status, "pending")
    ]
    v.check(not mismatched, f"{len(mismatched)} payments whose state differs from PayGov's, e.g. {mismatched[:3]}")


def _postal(v: Verdict, engine: sa.Engine, sims: Simulators) -> None:
    needed = set()
    for code, finished, withdrawn in _rows(
        engine, "SELECT dossier_code, finished_at, withdrawn_at FROM v_dossier WHERE channel = 'POSTAL'"
    ):
        needed.add((code, ORDER_TYPES["PICKUP"]))
        if finished is not None and withdrawn is None:
            needed.add((code, ORDER_TYPES["DELIVERY"]))
    state = sims.vnpost.state
    v.figures["postal_orders"] = len(state.orders)
    v.check(set(state.by_number) == needed, f"VNPost holds {len(state.by_number)} orders, {len(needed)} needed")
    wrong = postal_differences(engine, sims)
    v.check(not wrong, f"{len(wrong)} postal items whose status differs from VNPost's, e.g. {wrong[:3]}")


def postal_differences(engine: sa.Engine, sims: Simulators) -> list[str]:
    """Item codes whose status in the hub is not VNPost's latest."""
    items = {r[0]: r[1] for r in _rows(engine, "SELECT item_code, status_code FROM v_postal")}
    orders = list(sims.vnpost.state.orders.items())  # one step: the simulator adds orders meanwhile
    return [i for i, o in orders if items.get(i) != (o.events[-1]["StatusCode"] if o.events else None)]


def _results(v: Verdict, truth: Truth, sims: Simulators) -> None:
    digitised = {
        e.payload["result_code"]: e.payload["file"]["sha256"]
        for e in truth.events.values()
        if e.event_type is EventType.RESULT_DIGITISED
    }
    store = sims.portal.store
    v.figures["results_synced"] = len(store.results)
    v.check(set(store.results) == set(digitised), f"store holds {len(store.results)} of {len(digitised)} results")
    wrong = [c for c, r in store.results.items() if store.files[r.file_id][0] != digitised.get(c)]
    v.check(not wrong, f"{len(wrong)} results whose stored bytes are not the source's, e.g. {wrong[:3]}")


def _forged(v: Verdict, engine: sa.Engine, sims: Simulators) -> None:
    """Forged callbacks: sent, refused by the hub (4xx), not delivered (the endpoint was down: a fault of
    the run), and accepted (must be none)."""
    answers = [s for kind, _, s, _ in sims.paygov.state.ipn_answers if kind == "forged"]
    answers += [s for kind, _, s in sims.vnpost.state.callbacks if kind == "forged"]
    refused = sum(1 for s in answers if 400 <= s < 500)
    accepted = sum(1 for s in answers if 200 <= s < 300)
    refusals = {kind: n for kind, n in _rows(engine, "SELECT kind, sum(count) FROM hub_security_events GROUP BY kind")}
    v.figures["forged_callbacks"] = {
        "sent": len(answers),
        "rejected": refused,
        "undelivered": len(answers) - refused - accepted,
        "accepted": accepted,
        "security_events": refusals,
    }
    v.check(accepted == 0, f"{accepted} forged callbacks accepted")


def _dead_letters(v: Verdict, settings: Settings, truth: Truth) -> None:
    parked = read_records(settings, settings.dead_letter_topic)
    reasons = Counter((r.header("dlq.reason") or b"?").decode().split(":")[0][:80] for r in parked)
    upstream = {
        ((r.header("dlq.source") or b"").decode(), (r.header("dlq.record_id") or b"").decode())
        for r in parked
        if r.header("dlq.record_id") is not None
    }
    v.figures["dead_lettered"] = len(parked)
    v.figures["dead_letter_reasons"] = dict(reasons.most_common())
    v.figures["malformed_records"] = sum(truth.malformed.values())
    v.check(
        len(upstream) == sum(truth.malformed.values()),
        f"{len(upstream)} distinct upstream records parked, {sum(truth.malformed.values())} malformed on purpose",
    )
