"""Genuine IPN latency while junk floods the callback endpoint: ``python -m bench.callback_flood [--seconds 10]``.

The endpoint (``make_callback_app`` with the settings' rate limits, SQLite read store) runs in a child
process on loopback. A genuine gateway at 127.0.0.1 sends signed IPNs for payments the hub asked for,
a few a second, first alone and then while flooders at 127.0.0.2 post keyless junk as fast as they can.
Prints the genuine IPNs' latency p50/p99 in both phases, the junk answered (429 / refused), the rows
the junk left in hub_security_events, and the server's CPU; the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import httpx
import sqlalchemy as sa
import uvicorn

from connectors.common.record_fields import local_text
from connectors.paygov.book import PaymentBook
from connectors.paygov.ipn import IpnReceiver
from connectors.paygov.signature import sign
from hub.api.callbacks import make_callback_app
from hub.domain.events import Event
from hub.process.rate_limit import RateLimiter
from hub.settings import Settings
from hub.store.sql_store import make_engine, migrate, paygov_table, security_events_table
from simulators.local.free_ports import free_port

KEY = "bench-ipn-key-0123456789"
PAYMENTS = 2_000


class DroppedLog:
    """The log the endpoint appends accepted callbacks to: counted, not kept (the broker is not measured)."""

    def __init__(self) -> None:
        self.appended = 0

    def append(self, events: Sequence[Event]) -> None:
        self.appended += len(events)


def _serve(url: str, port: int) -> None:
    settings = Settings(database_url=url)
    engine = make_engine(url)
    log = DroppedLog()
    app = make_callback_app(
        paygov=IpnReceiver(PaymentBook(engine, log), KEY),
        limiter=RateLimiter(settings.callback_rate_per_s, settings.callback_burst),
    )
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="critical")


def _ipn(n: int) -> dict[str, str]:
    at = str(local_text(datetime.now(UTC)))
    fields = {"LoaiBanTin": "1", "MaLoi": "00", "MaThamChieu": f"MC{n:018d}", "SoTien": "100000",
              "MaGiaoDich": f"GD{n}", "MaNganHang": "VCB", "ThoiGianGD": at}  # fmt: skip
    return {**fields, "MaXacThuc": sign(fields, KEY)}


def _genuine(base: str, numbers: range, every_s: float) -> list[float]:
    latencies = []
    with httpx.Client(base_url=base, timeout=30) as client:
        for n in numbers:
            started = time.perf_counter()
            answer = client.post("/callbacks/paygov/ipn", json=_ipn(n))
            latencies.append(time.perf_counter() - started)
            if answer.status_code != 200:
                raise SystemExit(f"genuine IPN {n} answered {answer.status_code}: {answer.text}")
            time.sleep(every_s)
    return latencies


def _flood(base: str, until: float, counts: dict[int, int], lock: threading.Lock) -> None:
    transport = httpx.HTTPTransport(local_address="127.0.0.2")
    with httpx.Client(base_url=base, timeout=30, transport=transport) as client:
        while time.monotonic() < until:
            status = client.post("/callbacks/paygov/ipn", json={"MaThamChieu": "junk", "MaLoi": "00"}).status_code
            with lock:
                counts[status] = counts.get(status, 0) + 1


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _pct(values: list[float], q: float) -> float:
    return round(1000 * statistics.quantiles(values, n=100)[int(q) - 1], 1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each phase")
    parser.add_argument("--flooders", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/hub.sqlite3"
        engine = make_engine(url)
        migrate(engine)
        now = datetime.now(UTC)
        with engine.begin() as conn:
            conn.execute(
                sa.insert(paygov_table),
                [
                    {
                        "payment_ref": f"MC{n:018d}",
                        "dossier_code": f"G01-{n}",
                        "amount_vnd": 100_000,
                        "initiated": True,
                        "updated_at": now,
                    }
                    for n in range(PAYMENTS)
                ],
            )
        port = free_port()
        server = multiprocessing.get_context("spawn").Process(target=_serve, args=(url, port), daemon=True)
        server.start()
        base = f"http://127.0.0.1:{port}"
        _wait(base)
        rate = 5.0
        per_phase = int(args.seconds * rate)
        quiet = _genuine(base, range(0, per_phase), 1 / rate)
        counts: dict[int, int] = {}
        lock = threading.Lock()
        until = time.monotonic() + args.seconds
        flooders = [threading.Thread(target=_flood, args=(base, until, counts, lock)) for _ in range(args.flooders)]
        cpu_before = _cpu_s(server.pid or 0)
        for f in flooders:
            f.start()
        flooded = _genuine(base, range(per_phase, 2 * per_phase), 1 / rate)
        for f in flooders:
            f.join()
        cpu = _cpu_s(server.pid or 0) - cpu_before
        server.terminate()  # SIGTERM: uvicorn stops the app, which writes the refusals it counted
        server.join(timeout=30)
        with engine.connect() as conn:
            rows = conn.execute(sa.select(sa.func.count()).select_from(security_events_table)).scalar_one()
    junk = sum(counts.values())
    figures = {
        "genuine_p50_ms_quiet": _pct(quiet, 50),
        "genuine_p99_ms_quiet": _pct(quiet, 99),
        "genuine_p50_ms_flooded": _pct(flooded, 50),
        "genuine_p99_ms_flooded": _pct(flooded, 99),
        "junk_posts": junk,
        "junk_429": counts.get(429, 0),
        "junk_refused_4xx_other": sum(n for s, n in counts.items() if 400 <= s < 500 and s != 429),
        "security_rows": rows,
        "server_cpu_s_flooded": round(cpu, 2),
    }
    for phase, label in (("quiet", "alone:      "), ("flooded", "under flood:")):
        p50, p99 = figures[f"genuine_p50_ms_{phase}"], figures[f"genuine_p99_ms_{phase}"]
        print(f"genuine IPN latency {label} p50 {p50} ms, p99 {p99} ms")
    print(f"junk: {junk} posts, {figures['junk_429']} held off (429); {rows} rows in hub_security_events")
    print(json.dumps(figures))
    return 0


def _wait(base: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{base}/healthz", timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit("the callback endpoint did not start")


if __name__ == "__main__":
    sys.exit(main())
