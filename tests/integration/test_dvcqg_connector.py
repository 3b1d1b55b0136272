"""The national portal connector (inbound feed) and simulator over real sockets and the real broker."""

from __future__ import annotations

import sqlite3
import time
from collections import Counter
from pathlib import Path

import pytest
from pydantic import SecretStr

from connectors.dvcqg.client import DvcqgClient, DvcqgUpstream
from connectors.dvcqg.mapping import source_ref
from hub.bootstrap import make_connector_runner, make_log
from hub.domain.events import event_id_for
from hub.errors import UpstreamError
from hub.runtime.connector_runtime import ConnectorRunner
from hub.settings import Settings
from simulators.dvcqg.simulator import PortalFaults, PortalSimulator
from simulators.dvcqg.world import build_portal_world
from simulators.onestop.world import build_world
from simulators.province.read_back import fresh_topic, project, read_records

KEY = "integration-identity-key"


def run_inbound(settings: Settings, sim: PortalSimulator) -> tuple[ConnectorRunner, DvcqgClient]:
    client = DvcqgClient(sim.url, sim.client_id, sim.client_secret, timeout_s=0.5)
    log = make_log(settings)
    runner = make_connector_runner(DvcqgUpstream(client, settings.identity_key_bytes()), settings, log)
    runner.run(idle_exit_s=0.5)
    log.close()
    return runner, client


def test_inbound_feed_with_faults_and_expiring_tokens_gives_exactly_the_ground_truth(
    kafka_settings: Settings, tmp_path: Path
) -> None:
    world = build_portal_world(build_world(2000, seed=60))
    faults = PortalFaults.realistic()
    faults.revoke_rate, faults.http500_rate = 0.1, 0.05  # enough calls go wrong in a short run
    with PortalSimulator(world, faults, token_ttl_s=0.5) as sim:
        settings = fresh_topic(kafka_settings).model_copy(
            update={
                "identity_key": SecretStr(KEY),
                "database_url": f"sqlite:///{tmp_path}/hub.sqlite3",
                "connector_page_size": 25,
                "connector_retry_max_s": 0.3,
            }
        )
        runner, client = run_inbound(settings, sim)
        counts = dict(sim.state.counts)
    assert counts.get("revoked", 0) > 0 and counts.get("http500", 0) > 0
    assert counts["tokens"] >= 1 + counts["revoked"], "a new token after every revocation (and expiry)"
    assert client.renewals == counts["tokens"], "every expired or revoked token was renewed by the client"
    events = read_records(settings, settings.dossier_topic, quiet_s=3)
    ids = Counter((r.header("event_id") or b"").decode() for r in events)
    expected = {str(event_id_for("DVCQG", source_ref(i), kind)) for i, kind in world.expected()}
    assert set(ids) == expected and max(ids.values()) == 1
    assert runner.state.counters["parked"] == len(world.malformed())


def test_submissions_and_ratings_reach_the_timeline_and_dossier_state(kafka_settings: Settings, tmp_path: Path) -> None:
    world = build_portal_world(build_world(300, seed=61), malformed_rate=0)
    with PortalSimulator(world) as sim:
        settings = fresh_topic(kafka_settings).model_copy(
            update={"identity_key": SecretStr(KEY), "database_url": f"sqlite:///{tmp_path}/state.sqlite3"}
        )
        run_inbound(settings, sim)
    url = f"sqlite:///{tmp_path}/read.sqlite3"
    project(settings, url, expected=len(world.records))
    rated = next(r for r in world.records if r.kind == "DANH_GIA")
    online = next(r for r in world.records if r.kind == "NOP_HO_SO")
    with sqlite3.connect(f"{tmp_path}/read.sqlite3") as db:
        satisfaction = db.execute(
            "SELECT satisfaction FROM v_dossier WHERE dossier_code = ?", (rated.fields["MaHoSo"],)
        ).fetchone()
        submitted = db.execute(
            "SELECT channel, online_level, service_code FROM v_dossier WHERE dossier_code = ?",
            (online.fields["MaHoSo"],),
        ).fetchone()
        line = db.execute(
            "SELECT source_system, summary_vi FROM v_timeline WHERE dossier_code = ? "
            "AND event_type = 'SatisfactionRated'",
            (rated.fields["MaHoSo"],),
        ).fetchone()
    assert satisfaction[0] == {1: "VERY_SATISFIED", 2: "SATISFIED", 3: "NOT_SATISFIED"}[rated.fields["MucDoHaiLong"]]
    assert submitted[0] == "ONLINE" and submitted[2] == online.fields["MaDichVuCong"]
    assert line[0] == "DVCQG" and line[1].startswith("Đánh giá:")


def test_sync_endpoints_behave_like_the_portal() -> None:
    with PortalSimulator(build_portal_world(build_world(5)), token_ttl_s=0.3) as sim:
        client = DvcqgClient(sim.url, sim.client_id, sim.client_secret, timeout_s=5)
        dossier = {"MaHoSo": "000.00.20.H56-260609-0001", "TrangThaiHoSo": 5, "MaTTHC": "1.004227"}
        assert client.call("POST", "/api/DongBoHoSoMC", json={"data": [dossier]})["error_code"] == "0"
        again = client.call("POST", "/api/DongBoHoSoMC", json={"data": [dossier]})
        assert again["error_code"] == "2", "an insert of a known dossier answers 'already exists'"
        time.sleep(0.4)  # the token expires; the client renews it without the caller noticing
        update = client.call(
            "POST", "/api/DongBoHoSoMC", json={"data": [{**dossier, "TrangThaiHoSo": 4}], "isUpdate": True}
        )
        assert update["error_code"] == "0" and client.renewals == 2
        steps = [{"MaHoSo": dossier["MaHoSo"], "NoiDungXuLy": f"Bước {i}"} for i in range(11)]
        assert client.call("POST", "/api/CapNhatTienDoHoSoMC", json={"data": steps})["error_code"] == "3"
        sim.faults.partial_batch_rate = 0.5
        partial = client.call("POST", "/api/CapNhatTienDoHoSoMC", json={"data": steps[:10]})
        assert partial["error_code"] == "1" and partial["failed"]
        stored = client.call("GET", "/api/TraCuuHoSo", params={"MaHoSo": dossier["MaHoSo"]})["data"]
        assert stored["TrangThaiHoSo"] == 4 and len(stored["QuaTrinhXuLy"]) == 10 - len(partial["failed"])
        sim.faults.corrupt_statuses = True
        client.call("POST", "/api/DongBoHoSoMC", json={"data": [{**dossier, "TrangThaiHoSo": 6}], "isUpdate": True})
        corrupted = client.call("GET", "/api/TraCuuHoSo", params={"MaHoSo": dossier["MaHoSo"]})["data"]
        assert corrupted["TrangThaiHoSo"] == 9, "the simulator can corrupt mirrored statuses on purpose"
        bad = DvcqgClient(sim.url, sim.client_id, "wrong-secret", timeout_s=5)
        with pytest.raises(UpstreamError, match="refused the hub's credentials"):
            bad.call("GET", "/api/thaydoi")
