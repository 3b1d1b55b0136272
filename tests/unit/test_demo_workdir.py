"""The demo's working directory: made and marked by the hub; only such a directory is ever cleared."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.cli.demo.workdir import MARKER, claim_workdir
from hub.errors import ConfigError


def test_a_directory_the_demo_made_is_cleared_when_it_starts_afresh(tmp_path: Path) -> None:
    data = claim_workdir(tmp_path / "demo", fresh=True)
    (data / "logs").mkdir()
    (data / "hub.sqlite3").write_text("old", encoding="utf-8")
    assert sorted(p.name for p in claim_workdir(data, fresh=False).iterdir()) == [MARKER, "hub.sqlite3", "logs"]
    assert [p.name for p in claim_workdir(data, fresh=True).iterdir()] == [MARKER]


def test_an_empty_directory_is_taken_and_a_foreign_one_refused(tmp_path: Path) -> None:
    assert (claim_workdir(tmp_path / "empty-given", fresh=True) / MARKER).is_file()
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(ConfigError, match="not made by `hub demo`"):
        claim_workdir(foreign, fresh=True)
    assert [p.name for p in foreign.iterdir()] == ["notes.txt"]
