"""Where a monitor worker keeps faust's local files: made with its parents, never the working directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.monitoring.worker import data_dir
from hub.settings import Settings


def test_the_default_is_under_var_which_need_not_exist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    made = data_dir(Settings(monitor_app_id="province-monitor"))
    assert made == Path("var/province-monitor-data") and (tmp_path / made).is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["var"]


def test_a_configured_directory_is_made_with_its_parents(tmp_path: Path) -> None:
    wanted = tmp_path / "state" / "monitor" / "a"
    assert data_dir(Settings(monitor_data_dir=wanted)) == wanted and wanted.is_dir()
    assert data_dir(Settings(monitor_data_dir=wanted)) == wanted  # again: already there is fine
