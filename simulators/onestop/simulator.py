"""A faithful stand-in of a provincial one-stop system: SOAP 1.1 over HTTP on loopback, with a WSDL,
serving a World's change feed, dossier details and digitised results, and switchable faults.

    with OnestopSimulator(build_world(500), Faults(http500_rate=0.05)) as sim:
        sim.wsdl_url  # http://127.0.0.1:PORT/?wsdl

Faults change delivery, never data, so the world's ground truth holds whatever is switched on.
"""

from __future__ import annotations

import contextlib
import logging
import random
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from socketserver import ThreadingMixIn
from types import TracebackType
from typing import Any
from wsgiref.simple_server import ServerHandler, WSGIRequestHandler, WSGIServer, make_server

from spyne import Application, Integer, Long, ServiceBase, Unicode, rpc
from spyne.error import ResourceNotFoundError
from spyne.protocol.soap import Soap11
from spyne.server.wsgi import WsgiApplication

from simulators.faults import DeliveryFaults
from simulators.onestop.soap_types import TNS, DanhSachKetQuaSoHoa, HoSo, KetQuaSoHoa, TepTin, ThayDoi, TrangThayDoi
from simulators.onestop.world import DigitisedFile, World

__all__ = ["Faults", "OnestopSimulator"]

log = logging.getLogger(__name__)
logging.getLogger("spyne").setLevel(logging.CRITICAL)  # client faults are answers, not server errors


@dataclass
class Faults(DeliveryFaults):
    """Delivery faults plus the SOAP ones; ``down`` fails every call with HTTP 503."""

    soap_fault_rate: float = 0.0
    drop_rate: float = 0.0
    down: bool = False

    @classmethod
    def realistic(cls) -> Faults:
        """Every fault on, at rates a flaky provincial system shows (timeouts kept short for tests)."""
        return cls(
            latency_ms=5,
            timeout_rate=0.02,
            timeout_s=3.0,
            http500_rate=0.03,
            soap_fault_rate=0.02,
            drop_rate=0.02,
            duplicate_rate=0.02,
            out_of_order=True,
        )


class _DropConnectionError(Exception):
    """Close the connection without answering."""


def _make_service(
    world: World, faults: Faults, rng: random.Random, file_url: Callable[[str], str], visible: Callable[[], int]
) -> type:
    by_seq = world.changes

    class MotCuaService(ServiceBase):  # type: ignore[misc]
        @rpc(Long, Integer, _returns=TrangThayDoi)  # type: ignore[untyped-decorator]
        def LayDanhSachThayDoi(
            ctx: Any,
            TuMaThayDoi: int | None,
            SoLuong: int | None,
        ) -> TrangThayDoi:
            """Changes after TuMaThayDoi (exclusive), at most SoLuong of them, in commit order."""
            cursor = max(TuMaThayDoi or 0, 0)
            size = min(max(SoLuong or 100, 1), 1000)
            limit = visible()
            chosen = by_seq[cursor : min(cursor + size, limit)]
            records = [c.record() for c in chosen]
            if faults.duplicate_rate:
                again = [r for r in records if rng.random() < faults.duplicate_rate]
                if cursor and rng.random() < faults.duplicate_rate * 5:
                    again.append(by_seq[cursor - 1].record())  # the last record of the previous page, again
                records += again
            if faults.out_of_order:
                rng.shuffle(records)
            last = chosen[-1].seq if chosen else cursor
            return TrangThayDoi(
                DanhSachThayDoi=[ThayDoi(**r) for r in records], MaThayDoiCuoi=last, ConDuLieu=last < limit
            )

        @rpc(Unicode, _returns=HoSo)  # type: ignore[untyped-decorator]
        def LayChiTietHoSo(
            ctx: Any,
            MaHoSo: str,
        ) -> HoSo:
            """A dossier with every change the one-stop recorded for it (its processing history)."""
            limit = visible()
            changes = [c for c in world.dossier(MaHoSo or "") if c.seq <= limit]
            if not changes:
                raise ResourceNotFoundError(f"HoSo {MaHoSo}")
            first = changes[0].record()
            return HoSo(
                MaHoSo=MaHoSo,
                MaTTHC=first.get("MaTTHC"),
                MaDonVi=first.get("MaDonVi"),
                QuaTrinhXuLy=[ThayDoi(**c.record()) for c in changes],
            )

        @rpc(Unicode, _returns=KetQuaSoHoa)  # type: ignore[untyped-decorator]
        def LayKetQuaSoHoa(
            ctx: Any,
            Ma: str,
        ) -> KetQuaSoHoa:
            """A digitised result's metadata, hash and link to its file (bytes are fetched from the link)."""
            found = world.files.get(Ma or "")
            if found is None:
                raise ResourceNotFoundError(f"KetQuaSoHoa {Ma}")
            return described(found)

        @rpc(Integer, Integer, _returns=DanhSachKetQuaSoHoa)  # type: ignore[untyped-decorator]
        def LayDanhSachKetQuaSoHoa(
            ctx: Any,
            Trang: int | None,
            SoLuong: int | None,
        ) -> DanhSachKetQuaSoHoa:
            """Every digitised result the one-stop holds, by code, one page (from 1) at a time."""
            size = min(max(SoLuong or 500, 1), 1000)
            codes = sorted(world.files)
            start = (max(Trang or 1, 1) - 1) * size
            return DanhSachKetQuaSoHoa(
                DanhSach=[described(world.files[c]) for c in codes[start : start + size]], TongSo=len(codes)
            )

    def described(found: DigitisedFile) -> KetQuaSoHoa:
        return KetQuaSoHoa(
            Ma=found.code,
            MaKetQua=found.code,
            TepTin=TepTin(
                TenTep=f"{found.code}.pdf",
                KieuTep=found.media_type,
                KichThuoc=len(found.content),
                MaBam=found.sha256,
                DuongDan=file_url(found.code),
            ),
        )

    return MotCuaService


class _ServerHandler(ServerHandler):
    def handle_error(self) -> None:
        if isinstance(sys.exc_info()[1], _DropConnectionError):
            return  # the socket is already shut: answer nothing, as a crashed upstream would
        super().handle_error()


class _Handler(WSGIRequestHandler):
    def get_environ(self) -> dict[str, Any]:
        environ = super().get_environ()
        environ["sim.socket"] = self.connection
        return environ

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        log.debug(format, *args)

    def handle(self) -> None:
        """wsgiref's own handle(), with a handler that can drop a connection silently."""
        self.raw_requestline = self.rfile.readline(65537)
        if len(self.raw_requestline) > 65536 or not self.parse_request():
            return
        streams: tuple[Any, Any] = (self.rfile, self.wfile)
        handler = _ServerHandler(*streams, self.get_stderr(), self.get_environ(), multithread=True)
        handler.request_handler = self  # type: ignore[attr-defined]
        handler.run(self.server.get_app())  # type: ignore[attr-defined]


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("simulator connection from %s ended abruptly", client_address)


class OnestopSimulator:
    """The SOAP simulator in a background thread; a context manager. ``faults`` can be changed live."""

    def __init__(
        self,
        world: World,
        faults: Faults | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int = 1,
        visible: Callable[[], int] | None = None,
    ) -> None:
        """``visible``: how many of the world's changes exist yet (simulators.traffic); default all."""
        self.world = world
        self.faults = faults or Faults()
        self.rng = random.Random(seed)
        self.requests = 0
        self.faulted: dict[str, int] = {}
        everything = len(world.changes)
        service = _make_service(
            world, self.faults, self.rng, lambda code: f"{self.url}/tep/{code}", visible or (lambda: everything)
        )
        app = Application(
            [service], tns=TNS, name="MotCuaDienTu", in_protocol=Soap11(validator="lxml"), out_protocol=Soap11()
        )
        self._soap = WsgiApplication(app)
        self._server = make_server(host, port, self._wsgi, server_class=_Server, handler_class=_Handler)
        self.host, self.port = host, self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="onestop-sim", daemon=True)
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def wsdl_url(self) -> str:
        return f"{self.url}/?wsdl"

    def _count(self, fault: str) -> None:
        with self._lock:
            self.faulted[fault] = self.faulted.get(fault, 0) + 1

    def _wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        with self._lock:
            self.requests += 1
        path = environ.get("PATH_INFO", "")
        if path.startswith("/tep/"):
            found = self.world.files.get(path[len("/tep/") :])
            if found is None:
                start_response("404 Not Found", [("Content-Type", "text/plain")])
                return [b"not found"]
            start_response("200 OK", [("Content-Type", found.media_type), ("Content-Length", str(len(found.content)))])
            return [found.content]
        is_call = environ.get("REQUEST_METHOD") == "POST"
        f, roll = self.faults, self.rng.random()
        if f.latency_ms:
            time.sleep(f.latency_ms / 1000 * self.rng.uniform(0.5, 1.5))
        if is_call and f.down:
            self._count("down")
            start_response("503 Service Unavailable", [("Content-Type", "text/html")])
            return [b"<html><body>He thong dang bao tri</body></html>"]
        if is_call:
            for name, rate in (
                ("timeout", f.timeout_rate),
                ("http500", f.http500_rate),
                ("soap_fault", f.soap_fault_rate),
                ("drop", f.drop_rate),
            ):
                if roll < rate:
                    return self._fault(name, environ, start_response)
                roll -= rate
        return list(self._soap(environ, start_response))

    def _fault(self, name: str, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        self._count(name)
        if name == "timeout":
            time.sleep(self.faults.timeout_s)
        if name in ("drop", "timeout"):
            sock: socket.socket = environ["sim.socket"]
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            raise _DropConnectionError
        if name == "http500":
            start_response("500 Internal Server Error", [("Content-Type", "text/plain")])
            return [b"java.lang.NullPointerException at vn.gov.motcua.ws.HoSoService"]
        fault = (
            b'<?xml version="1.0" encoding="utf-8"?><soap11env:Envelope '
            b'xmlns:soap11env="http://schemas.xmlsoap.org/soap/envelope/"><soap11env:Body><soap11env:Fault>'
            b"<faultcode>soap11env:Server</faultcode><faultstring>Loi ket noi co so du lieu (ORA-12541)</faultstring>"
            b"</soap11env:Fault></soap11env:Body></soap11env:Envelope>"
        )
        start_response("500 Internal Server Error", [("Content-Type", "text/xml; charset=utf-8")])
        return [fault]

    def start(self) -> OnestopSimulator:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> OnestopSimulator:
        return self.start()

    def __exit__(self, *exc: object | TracebackType) -> None:
        self.stop()
