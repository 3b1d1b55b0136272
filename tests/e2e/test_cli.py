"""The product from its command line, against a real broker: publish, tail, schemas, topics, demo."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

from hub.bootstrap import make_log
from hub.settings import Settings
from tests.support.processes import HUB, run_hub


def _line(n: int, **payload: Any) -> str:
    code = f"000.00.20.H56-260609-{n:04d}"
    return json.dumps(
        {
            "event_type": "DossierAccepted",
            "dossier_code": code,
            "source_system": "ONESTOP",
            "source_ref": f"{code}/tiepnhan",
            "occurred_at": "20260609081500",
            "agency_code": "000.00.20.H56",
            "payload": {"due_at": "2026-06-12T17:00:00+07:00", "receipt_number": f"BN-{n}", **payload},
        },
        ensure_ascii=False,
    )


def _tail_json(settings: Settings, *extra: str) -> list[dict[str, Any]]:
    done = run_hub(settings, "events", "tail", "--from-beginning", "--json", "--idle-exit", "3", *extra)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_publishing_the_same_file_twice_yields_identical_event_ids(kafka_settings: Settings, tmp_path: Path) -> None:
    source = tmp_path / "events.jsonl"
    source.write_text("\n".join(_line(n) for n in range(10)) + "\n", encoding="utf-8")
    for _ in range(2):
        done = run_hub(kafka_settings, "events", "publish", str(source))
        assert done.returncode == 0, done.stderr
        assert "published 10 event(s)" in done.stdout
    seen = _tail_json(kafka_settings)
    assert len(seen) == 20
    ids = [e["event_id"] for e in seen]
    assert len(set(ids)) == 10 and all(ids.count(i) == 2 for i in ids)
    assert seen[0]["occurred_at"] == "2026-06-09T01:15:00.000Z"

    only = _tail_json(kafka_settings, "--dossier", "000.00.20.H56-260609-0003")
    assert {e["dossier_code"] for e in only} == {"000.00.20.H56-260609-0003"} and len(only) == 2

    # tail --json output is publishable as is, and keeps its ids
    exported = tmp_path / "exported.jsonl"
    exported.write_text("\n".join(json.dumps(e) for e in seen[:3]) + "\n", encoding="utf-8")
    assert run_hub(kafka_settings, "events", "publish", str(exported)).returncode == 0


def test_bad_lines_are_each_reported_and_good_lines_still_published(kafka_settings: Settings, tmp_path: Path) -> None:
    lines = [
        _line(1),
        "{not json",
        _line(2, due_at="next week"),
        _line(3),
        json.dumps(
            {
                "event_type": "DossierLost",
                "dossier_code": "X",
                "source_system": "ONESTOP",
                "source_ref": "r",
                "occurred_at": "20260609081500",
                "payload": {},
            }
        ),
        "",
        _line(4, receipt_number=12),
    ]
    source = tmp_path / "mixed.jsonl"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    done = run_hub(kafka_settings, "events", "publish", str(source))
    assert done.returncode == 1
    assert "published 2 event(s)" in done.stdout and "4 bad line(s)" in done.stdout
    errors = done.stderr.splitlines()
    assert any(e.startswith(f"{source}:2: not JSON") for e in errors)
    assert any(e.startswith(f"{source}:3: payload.due_at:") for e in errors)
    assert any(e.startswith(f"{source}:5: event_type: unknown event type") for e in errors)
    assert any(e.startswith(f"{source}:7: payload.receipt_number: expected a string") for e in errors)
    assert {e["dossier_code"] for e in _tail_json(kafka_settings)} == {
        "000.00.20.H56-260609-0001",
        "000.00.20.H56-260609-0003",
    }


def test_tail_reports_undecodable_messages_and_keeps_going(kafka_settings: Settings, tmp_path: Path) -> None:

    log = make_log(kafka_settings)
    log.send_raw(kafka_settings.dossier_topic, b"000.00.20.H56-260609-0001", b"junk", [])
    log.close()
    source = tmp_path / "one.jsonl"
    source.write_text(_line(1) + "\n", encoding="utf-8")
    assert run_hub(kafka_settings, "events", "publish", str(source)).returncode == 0
    done = run_hub(kafka_settings, "events", "tail", "--from-beginning", "--idle-exit", "3")
    assert "undecodable: not Avro" in done.stderr
    assert "DossierAccepted" in done.stdout and "receipt_number=BN-1" in done.stdout


def test_unreachable_broker_is_a_clear_error(tmp_path: Path) -> None:
    source = tmp_path / "one.jsonl"
    source.write_text(_line(1) + "\n", encoding="utf-8")
    dead = Settings(kafka_bootstrap="127.0.0.1:1")
    done = run_hub(dead, "events", "publish", str(source), env={"HUB_KAFKA_BOOTSTRAP_TIMEOUT_MS": "2000"})
    assert done.returncode == 2
    assert "error:" in done.stderr and "Traceback" not in done.stderr


def test_topics_create_and_schemas_check(kafka_settings: Settings) -> None:
    renamed = kafka_settings.model_copy(update={"dossier_topic": kafka_settings.dossier_topic + ".new"})
    done = run_hub(renamed, "topics", "create")
    assert done.returncode == 0, done.stderr
    assert f"{renamed.dossier_topic}: created" in done.stdout
    assert f"{renamed.dead_letter_topic}: exists" in done.stdout
    checked = run_hub(kafka_settings, "schemas", "check")
    assert checked.returncode == 0 and "schemas OK: 26 event types" in checked.stdout


def test_demo_runs_end_to_end_on_the_embedded_broker(tmp_path: Path) -> None:
    done = subprocess.run(
        [HUB, "demo", "--tour", "--data", str(tmp_path)], capture_output=True, text=True, timeout=180, check=False
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert f"read models in {tmp_path}" in out and (tmp_path / "tour.sqlite3").exists()
    assert "published 19 events" in out
    connectors = re.findall(r"connector read (\d+) records, published (\d+) events, parked (\d+)", out)
    assert len(connectors) == 2 and int(connectors[0][1]) > 400 and int(connectors[1][1]) > 20
    mirrored = re.search(r"national portal mirror \S+: (\d+) dossiers mirrored", out)
    assert mirrored and int(mirrored[1]) >= 60, "the dossiers the portal can file were mirrored"
    assert "divergence check (hub reconcile dvcqg): {'checked': " in out
    paid = re.search(r"PayGov simulator \S+: (\d+) payments started \(INIT\), (\d+) paid, (\d+) failed", out)
    assert paid and int(paid[1]) > 0 and int(paid[2]) + int(paid[3]) == int(paid[1]), "every payment settled"
    posted = re.search(r"VNPost simulator \S+: (\d+) orders \(pickup, delivery\), (\d+) tracking statuses", out)
    assert posted and int(posted[1]) > 0 and int(posted[2]) >= 5 * int(posted[1])
    assert "reconciliation (hub reconcile payments|postal)" in out
    results = re.search(r"national data store \S+: (\d+) digitised results synced", out)
    assert results and int(results[1]) > 10
    assert "'by_rule': {'differs_in_store': 1}}; 1 repaired by the sync" in out, "the drift made there was repaired"
    projected = re.search(r"demo done: (\d+) events projected, 2 parked", out)
    assert projected and int(projected[1]) >= 19 + sum(int(c[1]) for c in connectors) + int(mirrored[1])
    assert re.search(r"v_dossier: 63 dossiers, \d+ events", out)
    assert "Tiếp nhận hồ sơ, biên nhận BN" in out and "ONESTOP Nộp hồ sơ" in out
    assert f"dead-letter topic motcua.dead-letter: {2 + sum(int(c[2]) for c in connectors)} parked" in out
    monitoring = dict(
        (name, int(n)) for n, name in re.findall(r"^\s+(\d+)  (.+)$", out.split("monitoring topics")[1], re.M)
    )
    assert monitoring.get("health-samples", 0) >= 1 and monitoring.get("security", 0) >= 1, monitoring
    assert monitoring.get("sla PAST_DUE RAISED", 0) >= 1, "the sample dossiers left open are long past due"
    assert not any("CLEARED" in name for name in monitoring), "replayed history is judged once, not on the way"
    assert "001203004567" not in out + done.stderr, "identity numbers never leave the hub raw"


def test_the_demo_never_clears_a_directory_it_did_not_make(tmp_path: Path) -> None:
    precious = tmp_path / "home"
    precious.mkdir()
    (precious / "thesis.odt").write_text("years of work", encoding="utf-8")
    for mode in ([], ["--tour"]):
        done = subprocess.run(
            [HUB, "demo", *mode, "--data", str(precious)], capture_output=True, text=True, timeout=60, check=False
        )
        assert done.returncode == 2 and "was not made by `hub demo`" in done.stderr, done.stderr
    assert [p.name for p in precious.iterdir()] == ["thesis.odt"], "nothing was touched"
    afile = tmp_path / "afile"
    afile.write_text("x", encoding="utf-8")
    done = subprocess.run([HUB, "demo", "--data", str(afile)], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2 and "is a file" in done.stderr
