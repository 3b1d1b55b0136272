"""The results sync: every digitised result reaches the citizen's national data store, identical.

Work comes from the live results projection (``pending``, ``drifted``, ``failed``) joined with
hub_results_sync, this policy's memory of what the store acknowledged. For a result:
1. the file is streamed from its source (the one-stop's link in the ResultDigitised claim-check)
   to ``PUT /api/kho/tep`` in chunks, hashed on the way: memory stays bounded whatever the size,
   and bytes that do not match the event's SHA-256 are never registered. Only hosts of
   ``source_hosts`` are fetched from, redirects are not followed, and a file longer than its
   declared size is cut off there (an upstream that names another host or serves more is not
   trusted with the hub's network position);
2. the stored file's hash in the answer must equal the source's, else the upload was corrupted:
   the attempt fails and the next one uploads again;
3. the metadata is registered (``POST /api/kho/ketqua``, naming the replaced result if any) and
   the store's echo (file hash, metadata, owner) must equal what was sent;
then ResultSynced (UPLOAD, REPLACE or REPAIR); each failed attempt is a ResultSyncFailed, with
backoff, parked after ``max_attempts`` until `hub results resync` or a new version. Every call
carries an Idempotency-Key (result, version, attempt); after an attempt whose outcome is unknown
the next one first looks the result up and stops there if the store already has it. Events go to
the log before the memory is saved. Nothing is sent while the read models replay.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from connectors.dvcqg.client import DvcqgClient, PortalError
from hub.domain.events import Event, EventType, hub_event
from hub.errors import UpstreamError
from hub.ports import EventLog
from hub.runtime.policy_loop import Looping, PolicyOptions, next_attempt
from hub.store.policy_marks import ReplayGuard
from hub.store.sql_store import results_sync_table, upsert
from hub.store.utc import aware, aware_row
from projections.registry import active_table

__all__ = ["ResultWork", "ResultsSync"]

log = logging.getLogger(__name__)
M = results_sync_table
CHUNK = 64 * 1024


@dataclass
class ResultWork:
    row: dict[str, Any]
    memory: dict[str, Any]

    @property
    def code(self) -> str:
        return str(self.row["result_code"])

    @property
    def version(self) -> str:
        """What a sync of this result must achieve: this metadata digest, or a repair of this drift."""
        drift = self.row.get("drifted_at")
        return f"drift:{drift.isoformat()}" if self.row["state"] == "drifted" and drift else self.row["metadata_digest"]

    @property
    def metadata(self) -> dict[str, Any]:
        found: dict[str, Any] = json.loads(self.row["metadata"])
        return found


class ResultsSync(Looping):
    name = "results-sync"

    def __init__(
        self,
        client: DvcqgClient,
        engine: Engine,
        events: EventLog,
        guard: ReplayGuard,
        options: PolicyOptions | None = None,
        *,
        source_timeout_s: float = 60.0,
        source_hosts: frozenset[str] = frozenset({"127.0.0.1", "localhost"}),
    ) -> None:
        self.client, self.engine, self.events, self.guard = client, engine, events, guard
        self.options = options or PolicyOptions(concurrency=4)
        self.source = httpx.Client(timeout=source_timeout_s, follow_redirects=False)
        self.source_hosts = frozenset(h.lower() for h in source_hosts)
        self.counters: Counter[str] = Counter()
        self._pool = ThreadPoolExecutor(self.options.concurrency, thread_name_prefix="results-sync")

    # -- work ----------------------------------------------------------------------------------------

    def pending(self, now: datetime | None = None) -> list[ResultWork]:
        now = now or datetime.now(UTC)
        with self.engine.connect() as conn:
            table = active_table(conn, "results")
            query = (
                sa.select(table, *(c.label(f"m_{c.name}") for c in M.columns))
                .select_from(table.outerjoin(M, M.c.result_code == table.c.result_code))
                .where(table.c.state.in_(["pending", "drifted", "failed"]), table.c.metadata_digest.is_not(None))
                .order_by(table.c.digitised_at, table.c.result_code)
                .limit(self.options.batch * 2)
            )
            rows = [dict(r._mapping) for r in conn.execute(query)]
        out = []
        for raw in rows:
            memory = {c.name: raw.pop(f"m_{c.name}") for c in M.columns}
            row = aware_row(raw)
            work = ResultWork(row, memory if memory["result_code"] else {})
            m = work.memory
            if m.get("synced_digest") == work.version:
                continue  # acknowledged: its ResultSynced is on its way to the projection
            if m.get("attempt_digest") == work.version:
                due = aware(m.get("next_attempt_at"))
                if m["attempts"] >= self.options.max_attempts or (due is not None and due > now):
                    continue
            out.append(work)
            if len(out) >= self.options.batch:
                break
        return out

    # -- the store's calls ---------------------------------------------------------------------------

    def lookup(self, code: str, owner: str) -> dict[str, Any] | None:
        body = self.client.attempt("GET", f"/api/kho/ketqua/{code}", params={"chu_so_huu": owner})
        if str(body.get("error_code")) == "4":
            return None
        if str(body.get("error_code")) != "0" or not isinstance(body.get("data"), dict):
            raise PortalError(str(body.get("error_code")), f"lookup: {body.get('message')}")
        found: dict[str, Any] = body["data"]
        return found

    def _chunks(self, work: ResultWork) -> Iterator[bytes]:
        """The source file in chunks, checked against the event's hash as it streams."""
        digest, uri = hashlib.sha256(), work.row["source_uri"]
        where = urlsplit(uri)
        if where.scheme not in ("http", "https") or (where.hostname or "").lower() not in self.source_hosts:
            raise PortalError("source-not-allowed", f"{uri} is not on an allowed source host", retryable=False)
        declared, read = work.row.get("source_size"), 0
        with self.source.stream("GET", uri) as reply:
            if reply.status_code != 200:  # a redirect included: it is not followed
                raise PortalError("source-unreadable", f"GET {uri}: HTTP {reply.status_code}")
            for chunk in reply.iter_bytes(CHUNK):
                read += len(chunk)
                if declared is not None and read > declared:
                    raise PortalError("source-size", f"{uri} is longer than the {declared} bytes digitised")
                digest.update(chunk)
                yield chunk
        if digest.hexdigest() != work.row["source_sha256"]:
            raise PortalError("source-differs", f"the file at {uri} is not the one digitised (SHA-256 differs)")

    def upload(self, work: ResultWork, key: str) -> str:
        """Stream the file to the store; the stored file's id, once its hash is the source's."""
        headers = {"Content-Type": work.row["media_type"] or "application/octet-stream", "X-Ma-Ket-Qua": work.code}
        try:
            reply = self.client.stream_call(
                "PUT", "/api/kho/tep", lambda: self._chunks(work), headers=headers, idempotency_key=key
            )
        except UpstreamError as exc:
            raise PortalError("transport", str(exc), uncertain=True) from exc
        except httpx.HTTPError as exc:  # the source failed while streaming
            raise PortalError("source-unreadable", f"{type(exc).__name__}: {exc}") from exc
        if str(reply.get("error_code")) != "0":
            raise PortalError(str(reply.get("error_code")), f"upload refused: {reply.get('message')}")
        if reply.get("MaBam") != work.row["source_sha256"]:
            self.counters["corrupted_uploads"] += 1
            raise PortalError(
                "hash-mismatch", f"the store holds bytes with SHA-256 {reply.get('MaBam')}, not the file's"
            )
        return str(reply["MaTep"])

    @staticmethod
    def echo_differs(work: ResultWork, stored: dict[str, Any] | None) -> str | None:
        """Why the store's copy is not this result (None: it is)."""
        if stored is None:
            return "not in the store"
        for name, theirs, ours in (
            ("MaBam", stored.get("MaBam"), work.row["source_sha256"]),
            ("ChuSoHuu", stored.get("ChuSoHuu"), work.row["owner_hash"]),
            ("ThongTin", stored.get("ThongTin"), work.metadata),
            ("TrangThai", stored.get("TrangThai"), "HIEU_LUC"),
        ):
            if theirs != ours:
                return f"{name} differs in the store's echo"
        return None

    # -- one result ----------------------------------------------------------------------------------

    def sync(self, work: ResultWork) -> tuple[dict[str, Any], Event]:
        m = dict(work.memory) or {"result_code": work.code, "attempts": 0}
        version = work.version
        attempt = (int(m.get("attempts") or 0) if m.get("attempt_digest") == version else 0) + 1
        key = f"{work.code}:{version[-24:]}:a{attempt}"
        m.update(dossier_code=work.row["dossier_code"], attempt_digest=version, updated_at=datetime.now(UTC))
        try:
            stored = self.lookup(work.code, work.row["owner_hash"]) if m.get("uncertain") else None
            if stored is None or self.echo_differs(work, stored) is not None:
                if m.get("file_sha256") != work.row["source_sha256"] or not m.get("file_id"):
                    m["file_id"], m["file_sha256"] = self.upload(work, f"{key}:tep"), work.row["source_sha256"]
                stored = self._register(work, m, key)
        except PortalError as failure:
            return self._failed(work, m, attempt, failure)
        operation = (
            "REPAIR"
            if work.row["state"] == "drifted"
            else "REPLACE"
            if work.row.get("replaces_result_code")
            else "UPLOAD"
        )
        m.update(synced_digest=version, attempts=0, next_attempt_at=None, uncertain=False, last_error=None)
        self.counters["synced"] += 1
        payload = {
            "result_code": work.code,
            "national_code": stored.get("MaGiayToKhoQuocGia"),
            "sha256": stored["MaBam"],
            "metadata_digest": work.row["metadata_digest"],
            "operation": operation,
            "attempt": attempt,
        }
        return m, self._event(work, EventType.RESULT_SYNCED, f"{work.code}:{version}", payload)

    def _register(self, work: ResultWork, m: dict[str, Any], key: str) -> dict[str, Any]:
        body = {
            "Ma": work.code,
            "ChuSoHuu": work.row["owner_hash"],
            "MaHoSo": work.row["dossier_code"],
            "MaTep": m["file_id"],
            "ThongTin": work.metadata,
            "ThayTheCho": work.row.get("replaces_result_code"),
        }
        reply = self.client.attempt("POST", "/api/kho/ketqua", json=body, idempotency_key=f"{key}:ketqua")
        answer = str(reply.get("error_code"))
        if answer == "5":  # the store lost the file we uploaded: upload again
            m["file_id"] = m["file_sha256"] = None
            raise PortalError("5", "the store no longer has the uploaded file")
        if answer != "0" or not isinstance(reply.get("data"), dict):
            raise PortalError(answer, f"registration refused: {reply.get('message')}", retryable=answer != "3")
        stored: dict[str, Any] = reply["data"]
        if (why := self.echo_differs(work, stored)) is not None:
            if stored.get("MaBam") != work.row["source_sha256"]:
                m["file_id"] = m["file_sha256"] = None  # the store's copy of the bytes is bad: upload again
            raise PortalError("echo-differs", why)
        return stored

    def _failed(
        self, work: ResultWork, m: dict[str, Any], attempt: int, failure: PortalError
    ) -> tuple[dict[str, Any], Event]:
        will_retry = failure.retryable and attempt < self.options.max_attempts
        m.update(
            attempts=attempt if will_retry else max(attempt, self.options.max_attempts),
            next_attempt_at=next_attempt(attempt, self.options) if will_retry else None,
            uncertain=bool(m.get("uncertain")) or failure.uncertain,
            last_error=f"{failure.error_code}: {failure.reason}"[:500],
        )
        self.counters["failed_attempts"] += 1
        log.warning(
            "result %s not synced (attempt %d, %s): %s", work.code, attempt, failure.error_code, failure.reason[:200]
        )
        payload = {
            "result_code": work.code,
            "error_code": failure.error_code,
            "reason": failure.reason[:500],
            "attempt": attempt,
            "will_retry": will_retry,
        }
        return m, self._event(work, EventType.RESULT_SYNC_FAILED, f"{work.code}:{work.version}:a{attempt}", payload)

    def _event(self, work: ResultWork, kind: EventType, ref: str, payload: dict[str, Any]) -> Event:
        row = work.row
        agency, procedure = row.get("agency_code"), row.get("procedure_code")
        return hub_event(
            kind,
            row["dossier_code"],
            ref,
            payload,
            agency_code=agency,
            procedure_code=procedure,
            correlation_id=work.code,
        )

    # -- the loop ------------------------------------------------------------------------------------

    def commit(self, done: Sequence[tuple[dict[str, Any], Event]]) -> None:
        """Events first, then memory: a crash in between repeats the calls under the same keys."""
        self.events.append([event for _, event in done])
        if done:
            with self.engine.begin() as conn:
                for memory, _ in done:
                    upsert(conn, M, [memory])

    def tick(self) -> int:
        if not self.guard.live():
            self.counters["held_ticks"] += 1
            return 0
        works = self.pending()
        self.commit(list(self._pool.map(self.sync, works)))
        return len(works)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self.source.close()
        self.client.close()
