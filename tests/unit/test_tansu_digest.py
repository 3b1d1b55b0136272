"""The embedded broker is run only when its binary is the one the hub was checked with."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hub.errors import ConfigError
from simulators.local import tansu


def test_the_installed_broker_binary_is_the_checked_one() -> None:
    assert tansu.tansu_binary().is_file()


def test_a_different_binary_is_refused(tmp_path: Path) -> None:
    tampered = tmp_path / "tansu"
    shutil.copy(tansu.tansu_binary(), tampered)
    with tampered.open("ab") as f:
        f.write(b"\0")
    with pytest.raises(ConfigError, match="not the embedded broker the hub was checked with"):
        tansu._verified(tampered)
