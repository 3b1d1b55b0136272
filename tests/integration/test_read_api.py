"""The read API over a real read store and broker: every route behind a key, roles, search and
filters, timelines, time travel from the log, dead letters masked and re-driven once, reports equal
to `hub report`, Prometheus metrics; and schemathesis against the published OpenAPI."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from schemathesis.core.result import Ok

from hub.api.app import build_api
from hub.bootstrap import make_engine, make_log
from hub.log.kafka_log import TopicSpec, ensure_topics
from hub.services.indicators import build_report, period_of, select_groups
from hub.settings import Settings
from hub.store.connector_state import ConnectorState, ConnectorStateStore
from simulators.province.read_back import project, publish
from simulators.synthetic import province_events

VIEWER = "viewer-key-0123456789abcdef"
OPERATOR = "operator-key-0123456789abcdef"
RAW_CCCD = "079203004512"


@pytest.fixture(scope="module")
def hub(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Settings, FastAPI]]:
    """A read store projected from a province's events, the four external systems simulated (so the
    operators' reconciliations have someone to talk to), and the API over it all."""
    from simulators.dvcqg.simulator import PortalSimulator
    from simulators.dvcqg.world import PortalWorld
    from simulators.onestop.simulator import OnestopSimulator
    from simulators.onestop.world import build_world
    from simulators.paygov.simulator import PayGovSimulator
    from simulators.vnpost.simulator import VnpostSimulator

    with contextlib.ExitStack() as systems:
        portal = systems.enter_context(PortalSimulator(PortalWorld()))
        pay = systems.enter_context(PayGovSimulator())
        post = systems.enter_context(VnpostSimulator())
        onestop = systems.enter_context(OnestopSimulator(build_world(50)))
        yield from _hub(kafka_bootstrap, tmp_path_factory, portal, pay, post, onestop)


def _hub(
    kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory, portal: Any, pay: Any, post: Any, onestop: Any
) -> Iterator[tuple[Settings, FastAPI]]:
    suffix = uuid.uuid4().hex[:8]
    settings = Settings(
        kafka_bootstrap=kafka_bootstrap,
        dossier_topic=f"test.api.events.{suffix}",
        dead_letter_topic=f"test.api.dlq.{suffix}",
        kafka_session_timeout_ms=6000,
        database_url=f"sqlite:///{tmp_path_factory.mktemp('api')}/read.sqlite3",
        api_keys=f"{VIEWER}=viewer,{OPERATOR}=operator",
        api_rate_per_s=1000.0,  # the generated requests below come as fast as they can
        api_burst=10_000.0,
        **portal.hub_settings(),
        paygov_url=pay.url,
        paygov_secret=pay.secret,
        vnpost_url=post.url,
        vnpost_secret=post.secret,
        onestop_url=onestop.url + "/",
        identity_key="api-test-identity-key-0123456789",
    )
    ensure_topics(settings, [TopicSpec(settings.dossier_topic, 3, 1), TopicSpec(settings.dead_letter_topic, 1, 1)])
    events = list(province_events(3000))
    publish(settings, events)
    log = make_log(settings)
    for bad in (b"not avro at all", f"<HoSo><CCCD>{RAW_CCCD}</CCCD></HoSo>".encode()):
        log.send_raw(settings.dossier_topic, b"000.00.01.H56-260101-0001", bad, [])
    log.close()
    totals = project(settings, settings.database_url, expected=len(events) + 2)
    assert totals.parked == 2
    engine = make_engine(settings)
    ConnectorStateStore(engine).save(
        ConnectorState("onestop", cursor="20260301000000", breaker_state="open", last_error=f"bad CCCD {RAW_CCCD}")
    )
    yield settings, build_api(settings, engine)
    engine.dispose()


@pytest.fixture(scope="module")
def client(hub: tuple[Settings, FastAPI]) -> TestClient:
    return TestClient(hub[1])


def get(client: TestClient, path: str, key: str = VIEWER, **params: Any) -> Any:
    response = client.get(path, params=params, headers={"X-API-Key": key})
    assert response.status_code == 200, response.text
    return response.json()


def test_every_route_but_healthz_needs_a_key_and_viewers_cannot_redrive(client: TestClient) -> None:
    published = client.get("/openapi.json").json()["paths"]
    prober = TestClient(client.app, client=("198.51.100.20", 40000))  # its wrong keys hold off only itself
    checked = 0
    for template, methods in published.items():
        path = template.format(code="X", partition=0, offset=0, target="payments", name="timeline")
        for method in methods:
            for headers in ({}, {"X-API-Key": "wrong-key-0123456789abcdef"}):
                answer = prober.request(method.upper(), path, headers=headers, json={})
                if template == "/healthz":
                    assert answer.status_code == 200
                elif answer.status_code == 429:  # after ten wrong keys the address is held off, keys or not
                    assert "items" not in answer.text and "dossier_code" not in answer.text
                else:
                    assert answer.status_code == 401, (method, path, answer.status_code)
                    assert answer.headers["WWW-Authenticate"] == "ApiKey"
                    assert "items" not in answer.text and "dossier_code" not in answer.text
                checked += 1
    assert checked >= 2 * 12
    refused = client.post("/api/v1/dead-letters/redrive", json={"dry_run": True}, headers={"X-API-Key": VIEWER})
    assert refused.status_code == 403 and "operator" in refused.json()["detail"]
    allowed = client.post("/api/v1/dead-letters/redrive", json={"dry_run": True}, headers={"X-API-Key": OPERATOR})
    assert allowed.status_code == 200
    for path in ("/api/v1/reconcile/payments", "/api/v1/projections/postal/rebuild"):
        assert client.post(path, headers={"X-API-Key": VIEWER}).status_code == 403, path
    reconciled = client.post("/api/v1/reconcile/payments", headers={"X-API-Key": OPERATOR})
    assert reconciled.status_code == 200 and reconciled.json()["target"] == "payments", reconciled.text
    assert set(reconciled.json()) == {"target", "summary", "unresolved", "lines"}


def test_search_state_timeline_and_time_travel(client: TestClient) -> None:
    everything = get(client, "/api/v1/dossiers", limit=500)
    assert everything["total"] > 500 and len(everything["items"]) == 500
    agency = everything["items"][0]["agency_code"]
    mine = get(client, "/api/v1/dossiers", agency=agency, limit=500)
    assert 0 < mine["total"] < everything["total"] and {d["agency_code"] for d in mine["items"]} == {agency}
    opened = get(client, "/api/v1/dossiers", open_only="true", limit=500)
    assert all(d["finished_at"] is None and d["withdrawn_at"] is None for d in opened["items"])
    overdue = get(client, "/api/v1/dossiers", outcome="overdue", limit=5)
    assert all(d["outcome"] == "overdue" for d in overdue["items"])
    finished = next(d for d in everything["items"] if d["finished_at"] and d["received_at"] and d["event_count"] >= 4)
    code = finished["dossier_code"]
    assert get(client, "/api/v1/dossiers", code_prefix=code)["items"][0]["dossier_code"] == code
    assert get(client, "/api/v1/dossiers", code_prefix="%")["total"] == 0, "LIKE wildcards are escaped"

    state = get(client, f"/api/v1/dossiers/{code}")
    assert state["dossier_code"] == code and "fold" not in state
    events = get(client, f"/api/v1/dossiers/{code}/timeline")["events"]
    assert len(events) == state["event_count"]
    times = [datetime.fromisoformat(e["occurred_at"]) for e in events]
    assert times == sorted(times)
    assert client.get("/api/v1/dossiers/NO-SUCH", headers={"X-API-Key": VIEWER}).status_code == 404

    finished_at = datetime.fromisoformat(state["finished_at"])
    before = get(client, f"/api/v1/dossiers/{code}/as-of", at=(finished_at - timedelta(seconds=1)).isoformat())
    after = get(client, f"/api/v1/dossiers/{code}/as-of", at=finished_at.isoformat())
    assert before["finished_at"] is None and before["outcome"] == "in_progress"
    assert after["finished_at"] == state["finished_at"] and after["outcome"] == state["outcome"]
    assert before["events_folded"] < after["events_folded"] <= len(events)
    naive = client.get(
        f"/api/v1/dossiers/{code}/as-of", params={"at": "2026-03-02T09:00:00"}, headers={"X-API-Key": VIEWER}
    )
    assert naive.status_code == 422


def test_status_reports_and_metrics(client: TestClient, hub: tuple[Settings, FastAPI]) -> None:
    _, app = hub
    connectors = get(client, "/api/v1/connectors")["connectors"]
    assert connectors[0]["breaker_state"] == "open" and RAW_CCCD not in str(connectors)
    assert 0 <= connectors[0]["seconds_since_update"] < 600
    projections = {p["name"]: p for p in get(client, "/api/v1/projections")["projections"]}
    assert projections["dossier_state"]["applied"] >= 3000 and projections["dossier_state"]["lag"] is not None
    assert get(client, "/api/v1/results")["counts"].keys() >= {"pending", "synced"}

    on = "2026-01-15"
    report = get(client, "/api/v1/reports", period="month", on=on, only=["receipts", "766"])
    expected = select_groups(
        build_report(app.state.engine, period_of("month", datetime(2026, 1, 15).date())), ["receipts", "766"]
    )
    assert report == expected and report["rows"][-1]["agency"] == "ALL"
    bad = client.get("/api/v1/reports", params={"from": "2026-02-01"}, headers={"X-API-Key": VIEWER})
    assert bad.status_code == 422

    metrics = client.get("/metrics", headers={"X-API-Key": VIEWER})
    assert metrics.status_code == 200
    text = metrics.text
    assert 'hub_connector_breaker_state{connector="onestop"} 2.0' in text
    assert 'hub_projection_applied_total{projection="timeline"}' in text and "hub_broker_up 1.0" in text
    assert client.get("/healthz").json() == {"status": "ok", "database": "ok", "broker": "ok"}


def test_dead_letters_are_masked_and_redriven_once(client: TestClient, hub: tuple[Settings, FastAPI]) -> None:
    settings, _ = hub
    listed = get(client, "/api/v1/dead-letters")
    assert listed["total"] == 2 and all(item["redrivable"] for item in listed["items"])
    assert RAW_CCCD not in str(listed) and "079*******12" in str(listed)
    one = listed["items"][0]
    assert get(client, f"/api/v1/dead-letters/{one['partition']}/{one['offset']}")["reason"] == one["reason"]

    def redrive(**body: Any) -> Any:
        answer = client.post("/api/v1/dead-letters/redrive", json=body, headers={"X-API-Key": OPERATOR})
        assert answer.status_code == 200, answer.text
        return answer.json()

    first = {"partition": one["partition"], "from_offset": one["offset"], "to_offset": one["offset"]}
    assert redrive(reason="no such reason")["matched"] == 0
    dry = redrive(**first, reason="single-object", dry_run=True)
    assert dry["matched"] == 1 and dry["would_redrive"] == 1 and dry["redriven"] == 0
    done = redrive(**first)
    assert done["redriven"] == 1 and done["items"] == [{"partition": one["partition"], "offset": one["offset"]}]
    again = redrive()
    assert again["matched"] == 2 and again["already_redriven"] == 1 and again["redriven"] == 1
    assert redrive()["redriven"] == 0, "each dead letter at most once"

    from hub.log.kafka_source import KafkaRecordSource, follow

    source = KafkaRecordSource(settings, [settings.dossier_topic])
    try:
        redriven = [r for r in follow(source, idle_exit_s=1.0) if r.header("dlq.redriven_from")]
    finally:
        source.close()
    assert len(redriven) == 2 and {r.value for r in redriven} >= {b"not avro at all"}


def test_schemathesis_finds_no_server_error(hub: tuple[Settings, FastAPI]) -> None:
    """Generated requests (valid and not) against every published operation, with an operator key: no 5xx.

    Driven by hand rather than schemathesis' pytest plugin, which breaks on pytest 9 (request.node._nodeid)."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", hub[1])
    tried: dict[str, int] = {}
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), f"the published OpenAPI does not parse: {result}"
        operation = result.ok()
        label = f"{operation.method.upper()} {operation.path}"
        tried[label] = 0

        def check(case: Any) -> None:
            response = case.call(headers={"X-API-Key": OPERATOR})
            tried[f"{case.method} {case.path}"] += 1
            assert response.status_code < 500, (
                f"{case.method} {case.path}: {response.status_code} {response.text[:300]}"
            )

        settings = hypothesis_settings(
            max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), database=None
        )
        settings(given(case=operation.as_strategy())(check))()
    print(f"\nschemathesis: {sum(tried.values())} requests over {len(tried)} operations, no server error")
    assert len(tried) >= 12 and all(tried.values())


def test_an_operator_rebuild_replays_into_a_new_generation_and_swaps(client: TestClient) -> None:
    # Last in the module: a rebuild replays the log, and parks its undecodable records again.
    def payments() -> dict[str, Any]:
        found = {p["name"]: p for p in get(client, "/api/v1/projections")["projections"]}
        return dict(found["payments"])

    deadline = time.monotonic() + 120
    while True:  # the generated requests above may have started one: wait for it to finish
        before = payments()["generation"]
        started = client.post("/api/v1/projections/payments/rebuild", headers={"X-API-Key": OPERATOR})
        if started.status_code != 409 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert started.status_code == 202 and started.json() == {"rebuilding": "payments"}
    while (now := payments())["generation"] == before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert now["generation"] == before + 1 and not now["building_generation"], now
