"""Digitised results kept in sync with the citizen's national data store, over real sockets, the real
broker and SQLite: files streamed from the one-stop's links, corrupted uploads re-sent, replaced
results propagated, drift found and repaired, a killed sync leaving no duplicate and no gap."""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from pydantic import SecretStr

from connectors.dvcqg.results_sync import ResultsSync
from connectors.dvcqg.simulator import PortalFaults, PortalSimulator
from connectors.dvcqg.world import PortalWorld
from connectors.onestop.simulator import OnestopSimulator
from connectors.onestop.world import DigitisedFile, World
from connectors.registry import results_sync
from hub.bootstrap import make_codec
from hub.events import Event, EventType, SourceSystem, new_event
from hub.identity import protect_identity
from hub.kafka_log import KafkaEventLog
from hub.settings import Settings
from tests.integration.read_models import Projector, fresh_topic, publish, read_log, read_store

KEY = b"test-identity-key-0123456789"


def result_event(code: str, n: int, uri: str, content: bytes, replaces: str | None = None) -> Event:
    owner = protect_identity(f"0{(n * 7919) % 10**11:011d}", KEY).as_record()
    at = datetime(2026, 4, 1, 2, tzinfo=UTC) + timedelta(minutes=n)
    return new_event(
        EventType.RESULT_DIGITISED,
        dossier_code=f"G01-KQ-{n % 4000:05d}",
        source_system=SourceSystem.ONESTOP,
        source_ref=f"so-hoa/{code}",
        occurred_at=at,
        agency_code="G01",
        procedure_code="1.000001",
        payload={
            "result_code": code,
            "national_code": None,
            "owner": owner,
            "document_number": f"{n}/GP-01",
            "issued_at": at,
            "issuing_agency": "Sở Xây dựng",
            "signer": "Giám đốc Sở",
            "summary": "Giấy phép xây dựng",
            "valid_until": None,
            "scope": None,
            "kind": "RESULT",
            "digitised_by": "Cán bộ số hóa",
            "file": {
                "uri": uri,
                "sha256": hashlib.sha256(content).hexdigest(),
                "size_bytes": len(content),
                "media_type": "application/pdf",
            },
            "replaces_result_code": replaces,
            "reusable": True,
            "from_national_store": False,
        },
    )


@dataclass
class ResultsHub:
    settings: Settings
    url: str
    portal: PortalSimulator
    source: OnestopSimulator
    projector: Projector
    events: list[Event]

    def add(self, count: int, start: int = 0, replaces: dict[int, str] | None = None) -> list[Event]:
        """``count`` results (numbers from ``start``), their files served by the one-stop simulator."""
        made = []
        for n in range(start, start + count):
            code = f"KQ{n:07d}"
            content = f"%PDF-1.4 kết quả {code} ".encode() * (1 + n % 9)
            self.source.world.files[code] = DigitisedFile(code, content)
            made.append(result_event(code, n, f"{self.source.url}/tep/{code}", content, (replaces or {}).get(n)))
        publish(self.settings, made)
        self.events += made
        return made

    def policy(self) -> ResultsSync:
        log = KafkaEventLog(self.settings, make_codec(self.settings))
        sync = results_sync(self.settings, log)
        sync._log = log  # type: ignore[attr-defined]  # closed with the policy by the caller's finally
        return sync

    def settle(self, sync: ResultsSync, max_s: float = 300) -> None:
        """Tick until nothing is left to do and the projections saw every outcome."""
        deadline = time.monotonic() + max_s
        quiet = 0
        while quiet < 4:
            assert time.monotonic() < deadline, "the results sync did not settle"
            done = sync.tick()
            quiet = 0 if done else quiet + 1
            time.sleep(0.1 if done else 0.4)

    def rows(self, query: str) -> list[Any]:
        engine = sa.create_engine(self.url)
        with engine.connect() as conn:
            found = list(conn.execute(sa.text(query)))
        engine.dispose()
        return found


@pytest.fixture
def results_hub(kafka_settings: Settings, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[ResultsHub]:
    faults, database = request.param
    settings = fresh_topic(kafka_settings)
    url = read_store(request, database, tmp_path)
    with (
        PortalSimulator(PortalWorld(), faults, token_ttl_s=5.0) as portal,
        OnestopSimulator(World(seed=1)) as source,
        Projector(settings, url) as projector,
    ):
        settings = settings.model_copy(
            update={
                "database_url": url,
                "dvcqg_url": portal.url,
                "dvcqg_client_id": portal.client_id,
                "dvcqg_client_secret": SecretStr(portal.client_secret),
                "dvcqg_timeout_s": 0.5,
                "policy_retry_base_s": 0.05,
                "policy_retry_max_s": 0.2,
                "policy_max_attempts": 100,
            }
        )
        yield ResultsHub(settings, url, portal, source, projector, [])


def realistic_store() -> PortalFaults:
    faults = PortalFaults.realistic()
    faults.corrupt_upload_rate, faults.timeout_s, faults.partial_batch_rate = 0.05, 0.8, 0.0
    return faults


@pytest.mark.parametrize("results_hub", [(realistic_store(), "sqlite")], indirect=True)
def test_5000_results_are_synced_exactly_once_with_corrupted_uploads_re_sent(results_hub: ResultsHub) -> None:
    hub = results_hub
    hub.add(4900)
    sync = hub.policy()
    try:
        hub.settle(sync)
        hub.add(100, start=4900, replaces={n: f"KQ{n - 4900:07d}" for n in range(4900, 4950)})  # 50 replace synced ones
        hub.settle(sync)
    finally:
        sync.close()
        sync._log.close()  # type: ignore[attr-defined]
    store = hub.portal.store
    assert len(store.results) == 5000
    for event in hub.events:
        code, file = event.payload["result_code"], event.payload["file"]
        stored = store.results[code]
        assert store.files[stored.file_id][0] == file["sha256"], f"{code}: the stored bytes are the source's"
        assert store.file_bytes(stored.file_id) == hub.source.world.files[code].content
        assert (
            stored.owner == event.payload["owner"]["hash"]
            and stored.metadata["SoKyHieu"] == f"{event.payload['document_number']}"
        )
    assert max(store.registrations.values()) == 1, "no result registered twice"
    replaced = {f"KQ{n - 4900:07d}" for n in range(4900, 4950)}
    assert {c for c, r in store.results.items() if r.status == "THAY_THE"} == replaced
    log = read_log(hub.settings)
    synced = Counter(e.payload["result_code"] for e in log if e.event_type is EventType.RESULT_SYNCED)
    assert set(synced) == {e.payload["result_code"] for e in hub.events} and set(synced.values()) == {1}
    counts = hub.portal.state.counts
    # Corrupted uploads were caught by their hash (those whose answer a timeout swallowed were simply re-sent).
    assert 0 < sync.counters["corrupted_uploads"] <= counts["corrupted_uploads"]
    assert counts["timeout"] > 0 and counts["http500"] > 0
    time.sleep(1.5)
    states = dict(hub.rows("SELECT state, count(*) FROM v_results GROUP BY state"))
    assert states == {"synced": 4950, "replaced": 50}
    print(f"synced {len(synced)} counters {dict(sync.counters)} store {counts}")
