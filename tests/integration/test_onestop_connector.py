"""The one-stop connector against its simulator over real sockets and the real broker."""

from __future__ import annotations

import os
import subprocess
import threading
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

from connectors.onestop.client import WSDL, OnestopUpstream
from connectors.onestop.mapping import source_ref
from hub.bootstrap import make_engine
from hub.domain.events import event_id_for
from hub.settings import Settings
from hub.store.connector_state import ConnectorStateStore
from simulators.onestop.simulator import Faults, OnestopSimulator
from simulators.onestop.world import World, build_world
from simulators.province.read_back import read_records
from tests.support.onestop import KEY, connector_settings, make_runner
from tests.support.processes import HUB, hub_env, kill_repeatedly, run_to_end


def expected_ids(world: World) -> set[str]:
    return {str(event_id_for("ONESTOP", source_ref(seq), kind)) for seq, kind in world.expected()}


def test_all_faults_on_2500_dossiers_give_exactly_the_ground_truth(kafka_settings: Settings, tmp_path: Path) -> None:
    world = build_world(2500, seed=44)  # 5000 by hand: same result, twice the time
    faults = Faults.realistic()  # every fault on; timeouts rarer and latency lower so the test stays quick
    faults.latency_ms, faults.timeout_rate, faults.timeout_s = 2, 0.005, 1.0
    with OnestopSimulator(world, faults) as sim:
        settings = connector_settings(kafka_settings, sim, tmp_path)
        runner, log = make_runner(settings)
        state = runner.run(idle_exit_s=0.5)
        log.close()
        faulted = dict(sim.faulted)
    assert all(faulted.get(kind, 0) > 0 for kind in ("timeout", "http500", "soap_fault", "drop")), faulted
    assert state.counters["duplicates_skipped"] > 0 and state.counters["retries"] > 0

    events = read_records(settings, settings.dossier_topic, quiet_s=3)
    ids = Counter((r.header("event_id") or b"").decode() for r in events)
    assert set(ids) == expected_ids(world), "none missing, none extra"
    assert max(ids.values()) == 1, "none duplicated"
    parked = read_records(settings, settings.dead_letter_topic)
    reasons = {
        int((r.header("dlq.record_id") or b"0").decode()): (r.header("dlq.reason") or b"").decode() for r in parked
    }
    assert set(reasons) == set(world.malformed()) and all(reasons.values())
    numbers = {c.fields["DinhDanhCHS"]["SoDinhDanh"] for c in world.changes if c.kind == "NOP_HO_SO"}
    assert not any(number.encode() in (r.value or b"") for r in parked for number in numbers), "identities masked"


def test_killing_the_connector_mid_page_loses_and_duplicates_nothing_in_effect(
    kafka_settings: Settings, tmp_path: Path
) -> None:
    world = build_world(1500, seed=45)
    faults = Faults(latency_ms=20)  # slow pages, so kills land inside them
    with OnestopSimulator(world, faults) as sim:
        settings = connector_settings(kafka_settings, sim, tmp_path, connector_page_size=200)
        env = hub_env(
            settings,
            database_url=settings.database_url,
            onestop_url=sim.url,
            identity_key=KEY,
            connector_page_size="200",
        )
        cursors = kill_repeatedly(
            ["connectors", "run", "onestop"],
            env,
            times=4,
            between_s=(1.5, 3.5),
            seed=7,
            progress=lambda: ConnectorStateStore(make_engine(settings)).load("onestop").cursor,
        )
        done = run_to_end(["connectors", "run", "onestop", "--idle-exit", "1"], env, timeout_s=300)
        assert done.returncode == 0, done.stderr
    moved = [int(c) for c in cursors if c]
    assert len(set(moved)) >= 2 and max(moved) < len(world.changes), f"kills should land mid-feed: {cursors}"
    ids = {(r.header("event_id") or b"").decode() for r in read_records(settings, settings.dossier_topic, quiet_s=3)}
    assert ids == expected_ids(world)


def test_breaker_opens_backs_off_and_recovers_by_itself(kafka_settings: Settings, tmp_path: Path) -> None:
    world = build_world(300, seed=46)
    with OnestopSimulator(world) as sim:
        settings = connector_settings(
            kafka_settings, sim, tmp_path, breaker_fail_max=3, breaker_reset_s=1.0, connector_page_size=100
        )
        runner, log = make_runner(settings)
        store = ConnectorStateStore(make_engine(settings))
        runner.step()  # one good page first
        sim.faults.down = True
        seen: list[str] = []
        stop = threading.Event()
        thread = threading.Thread(target=lambda: runner.run(should_stop=stop.is_set, idle_exit_s=30))
        thread.start()
        deadline = time.monotonic() + 20
        while "open" not in seen and time.monotonic() < deadline:
            seen.append(store.load("onestop").breaker_state)
            time.sleep(0.05)
        requests_while_open = sim.requests
        time.sleep(0.5)
        assert sim.requests - requests_while_open <= 1, "an open breaker leaves the upstream alone"
        status = subprocess.run(
            [HUB, "connectors", "status"],
            env={**os.environ, "HUB_DATABASE_URL": settings.database_url},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert "breaker open" in status.stdout or "breaker half-open" in status.stdout, status.stdout
        sim.faults.down = False  # the one-stop heals
        while store.load("onestop").cursor != str(len(world.changes)) and time.monotonic() < deadline + 30:
            seen.append(store.load("onestop").breaker_state)
            time.sleep(0.05)
        stop.set()
        thread.join()
        log.close()
    assert "open" in seen and seen[-1] == "closed"
    assert store.load("onestop").counters["failures"] >= 3


def test_the_shipped_wsdl_is_what_the_simulator_serves() -> None:
    with OnestopSimulator(build_world(3)) as sim:
        served = urllib.request.urlopen(sim.wsdl_url, timeout=10).read().decode()
    from lxml import etree

    def canonical(text: str) -> bytes:
        tree = etree.fromstring(text.encode(), etree.XMLParser(remove_blank_text=True))
        for address in tree.iter("{http://schemas.xmlsoap.org/wsdl/soap/}address"):
            address.set("location", "ENDPOINT")
        return bytes(etree.tostring(tree, method="c14n"))

    assert canonical(served) == canonical(WSDL.read_text(encoding="utf-8"))


def test_dossier_detail_and_digitised_file_operations() -> None:
    import hashlib

    world = build_world(40, seed=47)
    with OnestopSimulator(world) as sim:
        upstream = OnestopUpstream(sim.url, b"k" * 16, timeout_s=5)
        code = world.changes[0].dossier
        detail = upstream.dossier(code)
        steps = detail["QuaTrinhXuLy"]["ThayDoi"]
        assert detail["MaHoSo"] == code
        assert [s["MaThayDoi"] for s in steps] == [c.seq for c in world.dossier(code)]
        digitised = next(iter(world.files.values()))
        meta = upstream.result_metadata(digitised.code)
        assert meta is not None and meta["TepTin"]["MaBam"] == digitised.sha256
        content = urllib.request.urlopen(meta["TepTin"]["DuongDan"], timeout=10).read()
        assert hashlib.sha256(content).hexdigest() == digitised.sha256
        assert upstream.result_metadata("KQ-khong-co") is None


def test_the_feed_read_without_zeeps_objects_equals_zeeps_reading() -> None:
    """fast_reply against zeep over every page of a province with malformed records, and a Fault."""
    import pytest
    from zeep.exceptions import Fault
    from zeep.helpers import serialize_object

    world = build_world(600, seed=53, malformed_rate=0.05)
    with OnestopSimulator(world) as sim:
        upstream = OnestopUpstream(sim.url, b"k" * 16, timeout_s=5)
        after, pages, changes = 0, 0, list[dict[str, Any]]()
        while True:
            fast = upstream._read_feed(after, 97)
            slow = serialize_object(upstream._service.LayDanhSachThayDoi(after, 97), dict)
            assert fast == slow
            page = fast["DanhSachThayDoi"]["ThayDoi"]
            assert [{k: type(v) for k, v in c.items()} for c in page] == [
                {k: type(v) for k, v in c.items()} for c in slow["DanhSachThayDoi"]["ThayDoi"]
            ]
            pages, changes = pages + 1, changes + page
            if not fast["ConDuLieu"]:
                break
            after = fast["MaThayDoiCuoi"]
        assert len(changes) == len(world.changes) and pages > 5
        # the nested parts were there to compare: fee lists, identity blocks
        assert sum(1 for c in changes if c["DanhSachLePhi"]) > 50
        assert sum(1 for c in changes if c["DinhDanhCHS"]) > 50
        sim.faults.soap_fault_rate = 1.0
        with pytest.raises(Fault):
            upstream._read_feed(0, 10)
