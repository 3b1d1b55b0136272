"""The demo's working directory: made and marked by the hub, so that starting afresh there can never
delete a directory the user pointed at by mistake (``--data ~``)."""

from __future__ import annotations

import shutil
from pathlib import Path

from hub.errors import ConfigError

__all__ = ["MARKER", "claim_workdir"]

MARKER = ".motcua-hub-demo"


def claim_workdir(data: Path, *, fresh: bool) -> Path:
    """Make ``data`` (or take it when it is empty or carries the demo's marker) and mark it; ``fresh``
    empties it first. A ConfigError, touching nothing, for a file or a non-empty directory the demo did
    not make."""
    if data.exists() and not data.is_dir():
        raise ConfigError(f"--data {data} is a file: give a directory for the demo's read store and logs")
    if data.is_dir() and any(data.iterdir()) and not (data / MARKER).is_file():
        raise ConfigError(
            f"--data {data} is not empty and was not made by `hub demo` (no {MARKER} in it): "
            "give a new or empty directory; the demo clears its directory when it starts afresh"
        )
    data.mkdir(parents=True, exist_ok=True)
    if fresh:
        for entry in data.iterdir():
            if entry.name == MARKER:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
    (data / MARKER).write_text("made by `hub demo`: its read store and logs; safe to delete\n", encoding="utf-8")
    return data
