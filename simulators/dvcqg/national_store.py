"""The citizen's national data store (kho quản lý dữ liệu điện tử) inside the DVCQG simulator.

Upload is two calls: the file's bytes streamed to ``PUT /api/kho/tep`` (stored on disk, hashed as
they arrive; the answer is the stored file's id and hash), then the metadata to
``POST /api/kho/ketqua`` naming that file (and the result it replaces, if any); the answer echoes
what was stored: metadata, the stored file's hash and the store's signature. Lookup by result code
(``GET /api/kho/ketqua/{Ma}?chu_so_huu=``), the whole list (for reconciliation), and a feed of changes made
there by others (``GET /api/kho/thaydoi``: revocations and edits).

Faults: those of the portal, plus corrupted uploads (the stored bytes differ from those sent) and
``drift()`` (metadata changed later, silently or with a feed entry). Assumption, recorded here: the
store files results under the owner's keyed hash, the identifier the hub has (it never holds
identity numbers); an integration with a store that wants the raw number resolves it at the
one-stop side.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import shutil
import tempfile
import threading
import uuid
import weakref
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Header, Request
from fastapi.responses import JSONResponse
from starlette.requests import ClientDisconnect

from connectors.common.record_fields import local_text
from simulators.faults import FaultGate

__all__ = ["NationalStore", "StoredResult", "add_store_routes"]

SIGNING_KEY = b"dvcqg-simulator-signing-key"


@dataclass
class StoredResult:
    code: str
    owner: str
    dossier_code: str | None
    metadata: dict[str, Any]
    file_id: str
    national_code: str
    status: str = "HIEU_LUC"  # in force; THAY_THE replaced; THU_HOI revoked
    replaced_by: str | None = None
    version: int = 1


@dataclass
class NationalStore:
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="dvcqg-store-")))
    files: dict[str, tuple[str, int, str]] = field(default_factory=dict)  # id -> (sha256, size, media type)
    results: dict[str, StoredResult] = field(default_factory=dict)
    registrations: Counter[str] = field(default_factory=Counter)  # per code: calls that created or changed it
    uploads: Counter[str] = field(default_factory=Counter)  # per code hint: files stored
    feed: list[dict[str, Any]] = field(default_factory=list)
    corrupt_upload_rate: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        # The files live as long as the store: a test suite starts hundreds of simulators.
        weakref.finalize(self, shutil.rmtree, self.root, ignore_errors=True)

    def view(self, r: StoredResult) -> dict[str, Any]:
        sha, size, media = self.files.get(r.file_id, ("", 0, ""))
        body = {
            "Ma": r.code,
            "ChuSoHuu": r.owner,
            "MaHoSo": r.dossier_code,
            "MaGiayToKhoQuocGia": r.national_code,
            "ThongTin": r.metadata,
            "MaTep": r.file_id,
            "MaBam": sha,
            "KichThuoc": size,
            "KieuTep": media,
            "TrangThai": r.status,
            "ThayTheBoi": r.replaced_by,
        }
        canonical = json.dumps([r.code, sha, r.metadata], sort_keys=True, ensure_ascii=False).encode()
        return {**body, "ChuKy": hmac.new(SIGNING_KEY, canonical, hashlib.sha256).hexdigest()}

    def file_bytes(self, file_id: str) -> bytes:
        return (self.root / file_id).read_bytes()

    # -- what others do to the store (for tests) -------------------------------------------------

    def _changed(self, kind: str, r: StoredResult, **extra: Any) -> None:
        self.feed.append(
            {
                "Id": len(self.feed) + 1,
                "Loai": kind,
                "Ma": r.code,
                "MaHoSo": r.dossier_code,
                "ThoiDiem": local_text(datetime.now(UTC)),
                **extra,
            }
        )

    def drift(self, code: str, name: str, value: Any, *, silent: bool = True) -> None:
        """Someone edits a field of the metadata; with ``silent`` false the edit is in the feed."""
        with self.lock:
            r = self.results[code]
            r.metadata = {**r.metadata, name: value}
            r.version += 1
            if not silent:
                self._changed("SUA_DOI", r, TruongThayDoi=name, NguoiThucHien="Cán bộ kho dữ liệu")

    def revoke(self, code: str, reason: str = "Giấy tờ bị thu hồi theo quyết định") -> None:
        with self.lock:
            r = self.results[code]
            r.status = "THU_HOI"
            self._changed("THU_HOI", r, LyDo=reason, NguoiThucHien="Cơ quan cấp")

    def garbage(self) -> None:
        """A malformed feed entry (a change record the hub cannot read)."""
        with self.lock:
            self.feed.append({"Id": len(self.feed) + 1, "Loai": "XOA_HET", "Ma": None, "ThoiDiem": "hôm qua"})

    def extra(self, code: str, owner: str) -> None:
        """A result filed there by another system, unknown to the hub."""
        with self.lock:
            file_id = uuid.uuid4().hex
            (self.root / file_id).write_bytes(b"%PDF-1.4 other")
            self.files[file_id] = (hashlib.sha256(b"%PDF-1.4 other").hexdigest(), 14, "application/pdf")
            self.results[code] = StoredResult(code, owner, None, {"SoKyHieu": "khác"}, file_id, f"QG-{code}")


def _body(code: str, message: str = "", **extra: Any) -> dict[str, Any]:
    return {"error_code": code, "message": message, **extra}


def add_store_routes(
    app: FastAPI, store: NationalStore, gate: FaultGate, authorised: Callable[[str | None], JSONResponse | None]
) -> None:
    async def admit(authorization: str | None, key: str | None) -> JSONResponse | None:
        return authorised(authorization) or await gate.admit(key)

    @app.put("/api/kho/tep")
    async def upload(
        request: Request,
        authorization: str | None = Header(None),
        idempotency_key: str | None = Header(None),
        content_type: str | None = Header(None),
    ) -> Any:
        if refused := await admit(authorization, idempotency_key):
            return refused
        file_id = uuid.uuid4().hex
        path = store.root / file_id
        digest, size = hashlib.sha256(), 0
        corrupt = gate.rng.random() < store.corrupt_upload_rate
        try:
            with path.open("wb") as out:
                async for chunk in request.stream():
                    if corrupt and size == 0 and chunk:
                        chunk = bytes([chunk[0] ^ 0xFF]) + chunk[1:]  # a byte flipped in transit or at rest
                    digest.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
        except ClientDisconnect:  # the sender died mid-upload: nothing stored, the key may be used again
            path.unlink(missing_ok=True)
            gate.forget(idempotency_key)
            gate.count("uploads_cut")
            return JSONResponse(_body("500", "tải lên bị gián đoạn"), status_code=500)
        with store.lock:
            store.files[file_id] = (digest.hexdigest(), size, content_type or "application/octet-stream")
            store.uploads[request.headers.get("x-ma-ket-qua", "?")] += 1
        if corrupt:
            gate.count("corrupted_uploads")
        reply = _body("0", MaTep=file_id, MaBam=digest.hexdigest(), KichThuoc=size)
        return await gate.answer(gate.remember(idempotency_key, reply))

    @app.post("/api/kho/ketqua")
    async def register(
        request: Request, authorization: str | None = Header(None), idempotency_key: str | None = Header(None)
    ) -> Any:
        body = await request.json()  # before admit: see FaultGate.admit
        if refused := await admit(authorization, idempotency_key):
            return refused
        code, owner, file_id = body.get("Ma"), body.get("ChuSoHuu"), body.get("MaTep")
        metadata = body.get("ThongTin")
        if not isinstance(code, str) or not code or not isinstance(owner, str) or not isinstance(metadata, dict):
            return await gate.answer(gate.remember(idempotency_key, _body("3", "Ma, ChuSoHuu và ThongTin là bắt buộc")))
        with store.lock:
            if file_id not in store.files:
                reply = _body("5", f"không có tệp {file_id}")
            else:
                found = store.results.get(code)
                if found is None:
                    found = StoredResult(code, owner, body.get("MaHoSo"), metadata, file_id, f"QG-{code}")
                    store.results[code] = found
                    store.registrations[code] += 1
                elif (found.owner, found.metadata, found.file_id, found.status) != (
                    owner,
                    metadata,
                    file_id,
                    "HIEU_LUC",
                ):
                    found.owner, found.metadata, found.file_id = owner, metadata, file_id
                    found.status, found.replaced_by = "HIEU_LUC", None
                    found.version += 1
                    store.registrations[code] += 1
                old = store.results.get(body.get("ThayTheCho") or "")
                if old is not None and old.code != code:
                    old.status, old.replaced_by = "THAY_THE", code
                reply = _body("0", data=store.view(found))
        return await gate.answer(gate.remember(idempotency_key, reply))

    @app.get("/api/kho/ketqua/{code}")
    async def lookup(code: str, chu_so_huu: str | None = None, authorization: str | None = Header(None)) -> Any:
        if (denied := authorised(authorization)) or (failed := await gate.faulty()):
            return denied or failed
        with store.lock:
            found = store.results.get(code)
            if found is not None and chu_so_huu is not None and found.owner != chu_so_huu:
                found = None  # looked up by owner and code: another owner's result is not found
            reply = _body("4", "Không tìm thấy") if found is None else _body("0", data=store.view(found))
        return await gate.answer(reply)

    @app.get("/api/kho/ketqua")
    async def listing(trang: int = 1, so_ban_ghi: int = 500, authorization: str | None = Header(None)) -> Any:
        if (denied := authorised(authorization)) or (failed := await gate.faulty()):
            return denied or failed
        size = min(max(so_ban_ghi, 1), 1000)
        with store.lock:
            chosen = sorted(store.results)[(max(trang, 1) - 1) * size : max(trang, 1) * size]
            data, total = [store.view(store.results[c]) for c in chosen], len(store.results)
        return await gate.answer(_body("0", data=data, tong_so=total))

    @app.get("/api/kho/thaydoi")
    async def changes(tu: int = 0, so_luong: int = 100, authorization: str | None = Header(None)) -> Any:
        if (denied := authorised(authorization)) or (failed := await gate.faulty()):
            return denied or failed
        with store.lock:
            chosen = store.feed[max(tu, 0) : max(tu, 0) + min(max(so_luong, 1), 1000)]
        data = [dict(c) for c in chosen]
        data += [c for c in data if gate.rng.random() < gate.faults.duplicate_rate]
        if gate.faults.out_of_order:
            gate.rng.shuffle(data)
        last = chosen[-1]["Id"] if chosen else max(tu, 0)
        return await gate.answer(_body("0", data=data, tiep_theo=last, con_du_lieu=last < len(store.feed)))
