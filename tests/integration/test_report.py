"""`hub report` against a generated population whose true figures are known: several years, 21
agencies, every channel, supplements (one and two rounds), apologies, refusals, withdrawals, stops,
carry-over across year ends, results and receipts near local midnight. Every figure of every row
is compared with the truth, computed here independently of the hub's fold."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

import pytest

from hub.bootstrap import make_engine
from hub.domain.events import LOCAL_TZ, Event, EventType, new_event
from hub.services.indicators import Period, build_report, period_of
from hub.settings import Settings
from simulators.agencies import AGENCY_CODES
from simulators.province.read_back import fresh_topic, project, publish, read_store
from simulators.synthetic import digitised_result
from tests.support.processes import hub_env, run_to_end

VN = LOCAL_TZ
START = datetime(2024, 1, 1, tzinfo=VN)
DAYS = 900  # into mid-2026
KEY = b"report-identity-key-0123456789"
COUNTED = [  # figures counted straight from the truth, compared one to one with the report's
    "carried_over", "received", "received_direct", "received_online", "received_postal", "resolved", "before_due",
    "on_due", "overdue", "withdrawn", "stopped", "refused", "rated", "very_satisfied", "satisfied", "not_satisfied",
]  # fmt: skip


@dataclass
class Truth:
    agency: str
    channel: str
    received: datetime | None = None
    refused: datetime | None = None
    finished: datetime | None = None
    withdrawn: datetime | None = None
    stopped: datetime | None = None
    outcome: str | None = None
    supplement_s: float = 0.0
    rated: datetime | None = None
    rating: str | None = None
    fee: bool = False
    paid: bool = False
    digitised: bool = False
    synced: bool = False
    events: list[Event] = field(default_factory=list)


def local_midnight(moment: datetime) -> datetime:
    return datetime.combine(moment.astimezone(VN).date(), time(), VN)


def population(count: int, seed: int = 766) -> list[Truth]:
    rng = random.Random(seed)
    out = []
    for i in range(count):
        code = f"{rng.choice(AGENCY_CODES)}-{i:06d}"
        t = Truth(agency=code.rsplit("-", 1)[0], channel=rng.choice(["DIRECT"] * 3 + ["ONLINE"] * 6 + ["POSTAL"]))

        def add(
            kind: EventType,
            at: datetime,
            payload: dict[str, Any],
            source: str = "ONESTOP",
            t: Truth = t,
            code: str = code,
        ) -> None:
            t.events.append(
                new_event(
                    kind,
                    dossier_code=code,
                    source_system=source,
                    source_ref=f"{code}/{kind.value}/{len(t.events)}",
                    occurred_at=at,
                    payload=payload,
                    agency_code=t.agency,
                    procedure_code="1.000001",
                )
            )

        submitted = START + timedelta(days=rng.randrange(DAYS), seconds=rng.randrange(86400))
        if rng.random() < 0.15:  # right at a local midnight, either side
            submitted = local_midnight(submitted) + timedelta(seconds=rng.choice([-1, 0, 1, 59]))
        add(
            EventType.DOSSIER_SUBMITTED,
            submitted,
            {"channel": t.channel, "online_level": "NOT_ONLINE", "applicant": {"kind": "CITIZEN"}},
        )
        if rng.random() < 0.04:
            t.refused = submitted + timedelta(hours=2)
            add(EventType.DOSSIER_REFUSED, t.refused, {"reason": "không thuộc thẩm quyền"})
            out.append(t)
            continue
        t.received = submitted + timedelta(minutes=rng.choice([0, 30, 90]))
        due = t.received + timedelta(days=rng.randint(3, 15), hours=rng.randint(0, 8))
        add(EventType.DOSSIER_ACCEPTED, t.received, {"due_at": due, "receipt_number": f"BN{i}"})
        rounds = 2 if rng.random() < 0.04 else 1 if rng.random() < 0.15 else 0
        at = t.received
        for r in range(1, rounds + 1):
            asked = at + timedelta(days=1, hours=rng.randint(0, 20))
            given = asked + timedelta(days=rng.randint(1, 4), minutes=rng.randint(0, 600))
            add(EventType.SUPPLEMENT_REQUESTED, asked, {"round": r, "content": "bổ sung"})
            add(EventType.SUPPLEMENT_PROVIDED, given, {"round": r})
            t.supplement_s += (given - asked).total_seconds()
            at = given
        legal_due = due + timedelta(seconds=t.supplement_s)
        if rng.random() < 0.15:
            t.fee = True
            add(EventType.FEE_ASSESSED, t.received, {"fees": [], "total_vnd": 100_000})
            if rng.random() < 0.7:
                t.paid = True
                add(
                    EventType.PAYMENT_CONFIRMED,
                    t.received + timedelta(hours=1),
                    {"payment_ref": f"MC{i}", "amount_vnd": 100_000, "transaction_id": f"GD{i}"},
                    "PAYGOV",
                )
        if rng.random() < 0.6:
            t.synced = True
            add(
                EventType.NATIONAL_STATUS_SYNCED,
                t.received + timedelta(hours=2),
                {"national_status": 2, "sync_version": 1000, "operation": "INSERT"},
                "HUB",
            )
        roll = rng.random()
        if roll < 0.12:
            out.append(t)  # still in progress
            continue
        if roll < 0.15:
            t.withdrawn = at + timedelta(days=1)
            add(EventType.DOSSIER_WITHDRAWN, t.withdrawn, {"reason": "rút"})
            out.append(t)
            continue
        if roll < 0.17:
            t.stopped = at + timedelta(days=2)
            add(EventType.DOSSIER_STOPPED, t.stopped, {"reason": "dừng"})
            out.append(t)
            continue
        kind = rng.choice(["before", "on", "overdue"])
        if kind == "before":
            t.finished = max(legal_due - timedelta(days=rng.randint(1, 3)), at + timedelta(minutes=5))
            kind = "before" if t.finished.astimezone(VN).date() < legal_due.astimezone(VN).date() else "on"
        elif kind == "on":
            t.finished = max(
                local_midnight(legal_due) + timedelta(seconds=rng.choice([0, 1, 3600, 86399])),
                at + timedelta(minutes=5),
            )
            kind = "on" if t.finished.astimezone(VN).date() == legal_due.astimezone(VN).date() else "overdue"
        else:
            t.finished = legal_due + timedelta(days=rng.randint(1, 4), seconds=rng.choice([0, 1, -1]))
            if rng.random() < 0.3:  # an apology: a new appointment, still overdue by Decision 766
                add(
                    EventType.DUE_DATE_EXTENDED,
                    legal_due - timedelta(hours=3),
                    {"previous_due_at": legal_due, "new_due_at": t.finished + timedelta(days=1), "reason": "chậm"},
                )
        t.outcome = "overdue" if rounds >= 2 else {"before": "before_due", "on": "on_due", "overdue": "overdue"}[kind]
        add(EventType.RESULT_ISSUED, t.finished, {"result_code": f"KQ{i}"})
        if rng.random() < 0.5:
            t.digitised = True
            t.events.append(
                digitised_result(
                    f"KQ{i}",
                    i,
                    "http://x/tep",
                    b"kq",
                    KEY,
                    dossier_code=code,
                    agency_code=t.agency,
                    at=t.finished + timedelta(minutes=30),
                )
            )
        if rng.random() < 0.25:
            t.rated = t.finished + timedelta(hours=rng.choice([1, 20]))
            t.rating = rng.choice(["VERY_SATISFIED", "SATISFIED", "NOT_SATISFIED"])
            add(EventType.SATISFACTION_RATED, t.rated, {"rating": t.rating}, "DVCQG")
        out.append(t)
    return out


def expected(truths: list[Truth], period: Period, agency: str | None = None) -> dict[str, dict[str, Any]]:
    """The true figures, by brute force over the generated truth."""

    def within(moment: datetime | None) -> bool:
        return moment is not None and period.first <= moment.astimezone(VN).date() <= period.last

    def before(moment: datetime | None) -> bool:
        return moment is not None and moment.astimezone(VN).date() < period.first

    def after_end(moment: datetime | None) -> bool:
        return moment is not None and moment.astimezone(VN).date() > period.last

    rows: dict[str, dict[str, Any]] = {}
    for t in truths:
        if agency and t.agency != agency:
            continue
        for key in (t.agency, "ALL"):
            n = rows.setdefault(
                key,
                {"handling_s": 0.0}
                | dict.fromkeys(
                    [*COUNTED, "fee_bearing", "paid_online", "digitised", "synced"],
                    0,
                ),
            )
            if t.received is None:
                n["refused"] += within(t.refused)
                continue
            closed_before = any(before(m) for m in (t.finished, t.withdrawn, t.stopped))
            n["carried_over"] += before(t.received) and not closed_before
            if within(t.received):
                n["received"] += 1
                n[f"received_{t.channel.lower()}"] += 1
                n["fee_bearing"] += t.fee
                n["paid_online"] += t.fee and t.paid
                n["synced"] += t.synced
            held = not after_end(t.received)
            if held and within(t.finished):
                n["resolved"] += 1
                assert t.outcome and t.finished
                n[t.outcome] += 1
                n["digitised"] += t.digitised
                n["handling_s"] += max((t.finished - t.received).total_seconds() - t.supplement_s, 0)
            n["withdrawn"] += held and within(t.withdrawn)
            n["stopped"] += held and within(t.stopped)
            if within(t.rated):
                n["rated"] += 1
                n[str(t.rating).lower()] += 1
    return rows


def assert_report(found: dict[str, Any], truths: list[Truth], period: Period, agency: str | None = None) -> None:
    truth = expected(truths, period, agency)
    got = {r["agency"]: r for r in found["rows"]}
    assert set(got) == {
        k for k, n in truth.items() if k == "ALL" or any(v for name, v in n.items() if name != "handling_s")
    }
    for name, n in truth.items():
        if name not in got:
            continue
        row = got[name]
        to_resolve = n["carried_over"] + n["received"]
        figures = {
            **{k: n[k] for k in COUNTED},
            "to_resolve": to_resolve,
            "in_progress": to_resolve - n["resolved"] - n["withdrawn"] - n["stopped"],
            "on_time_rate_numerator": n["before_due"] + n["on_due"],
            "on_time_rate_denominator": n["resolved"],
            "online_submission_rate_numerator": n["received_online"],
            "online_payment_rate_numerator": n["paid_online"],
            "online_payment_rate_denominator": n["fee_bearing"],
            "digitisation_rate_numerator": n["digitised"],
            "national_sync_rate_numerator": n["synced"],
            "national_sync_rate_denominator": n["received"],
            "before_due_pct": round(100 * n["before_due"] / n["resolved"], 2) if n["resolved"] else None,
            "average_handling_days": round(n["handling_s"] / 86400 / n["resolved"], 2) if n["resolved"] else None,
        }
        for key, value in figures.items():
            assert row[key] == value, f"{period} {name} {key}: report {row[key]}, truth {value}"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def reported(
    kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[tuple[Settings, list[Truth]]]:
    truths = population(3000)
    settings = fresh_topic(Settings(kafka_bootstrap=kafka_bootstrap, identity_key="report-identity-key-0123456789"))
    events = [e for t in truths for e in t.events]
    publish(settings, events)
    url = read_store(request, request.param, tmp_path_factory.mktemp("report"))
    project(settings, url, expected=len(events))
    yield settings.model_copy(update={"database_url": url}), truths


PERIODS = [
    period_of("year", date(2024, 6, 1)),
    period_of("year", date(2025, 6, 1)),
    period_of("quarter", date(2025, 2, 10)),
    period_of("quarter", date(2024, 11, 1)),
    period_of("month", date(2025, 1, 15)),
    period_of("month", date(2024, 12, 1)),
    period_of("day", date(2025, 3, 3)),
    period_of("range", first=date(2024, 12, 20), last=date(2025, 1, 10)),  # across a year end
]


@pytest.mark.parametrize("period", PERIODS, ids=lambda p: f"{p.kind}-{p.first}")
def test_every_figure_of_every_report_is_exact(reported: tuple[Settings, list[Truth]], period: Period) -> None:
    settings, truths = reported
    engine = make_engine(settings, writer=False)
    assert_report(build_report(engine, period), truths, period)
    engine.dispose()


def test_one_agency_and_the_command_line_formats(reported: tuple[Settings, list[Truth]]) -> None:
    import csv
    import io
    import json

    settings, truths = reported
    env = hub_env(settings, database_url=settings.database_url)
    done = run_to_end(["report", "--period", "quarter", "--on", "2025-02-10", "--format", "json"], env)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert found["period"] == {
        "kind": "quarter",
        "from": "2025-01-01",
        "to": "2025-03-31",
        "time_zone": "Asia/Ho_Chi_Minh",
    }
    assert_report(found, truths, period_of("quarter", date(2025, 2, 10)))
    assert found["rows"][-1]["agency"] == "ALL" and len(found["rows"]) == 22
    one = run_to_end(
        ["report", "--from", "2024-12-20", "--to", "2025-01-10", "--agency", AGENCY_CODES[3], "--format", "json"], env
    )
    assert_report(
        json.loads(one.stdout),
        truths,
        period_of("range", first=date(2024, 12, 20), last=date(2025, 1, 10)),
        AGENCY_CODES[3],
    )
    table = run_to_end(["report", "--period", "month", "--on", "2025-01-15", "--only", "766"], env)
    assert "on_time_rate" in table.stdout and "carried_over" not in table.stdout
    rows = list(
        csv.DictReader(
            io.StringIO(run_to_end(["report", "--period", "year", "--on", "2025-01-01", "--format", "csv"], env).stdout)
        )
    )
    assert (
        rows[-1]["agency"] == "ALL"
        and int(rows[-1]["received"]) == expected(truths, period_of("year", date(2025, 1, 1)))["ALL"]["received"]
    )
    bad = run_to_end(["report", "--from", "2025-01-10"], env)
    assert bad.returncode == 2 and "--from and --to go together" in bad.stderr


def test_the_day_counts_view_adds_up_to_the_report(reported: tuple[Settings, list[Truth]]) -> None:
    import sqlalchemy as sa

    settings, truths = reported
    period = period_of("year", date(2025, 1, 1))
    engine = make_engine(settings, writer=False)
    with engine.connect() as conn:
        days: dict[str, int] = dict(
            conn.execute(
                sa.text(
                    "SELECT measure, sum(dossiers) FROM v_indicator_days "
                    "WHERE local_day >= :a AND local_day <= :b GROUP BY measure"
                ),
                {"a": "2025-01-01", "b": "2025-12-31"},
            ).all()
        )
    engine.dispose()
    truth = expected(truths, period)["ALL"]
    assert days["received"] == truth["received"] and days["refused"] == truth["refused"]
    assert days["resolved_on_due"] == truth["on_due"] and days["rated_not_satisfied"] == truth["not_satisfied"]
