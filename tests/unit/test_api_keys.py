"""API keys: guessable ones refused at start, guessing held off, generated ones strong; the dashboard
keeps its key for the tab only and cannot be framed."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from hub.api.app import build_api
from hub.api.auth import MAX_FAILURES
from hub.cli.main import cli
from hub.errors import ConfigError
from hub.settings import Settings

GOOD = "viewer-9f2c7d1e4b6a8c03"


@pytest.mark.parametrize("weak", ["a" * 16, "0101010101010101", "abcabcabcabcabcab"])
def test_a_guessable_key_is_refused_at_start(weak: str) -> None:
    with pytest.raises(ConfigError, match="guessable"):
        Settings(api_keys=f"{weak}=viewer").api_key_roles()


def test_generated_keys_are_accepted_and_differ() -> None:
    made = [CliRunner().invoke(cli, ["keys", "new", "--role", "operator"]).output.strip() for _ in range(2)]
    assert made[0] != made[1] and all(m.endswith("=operator") for m in made)
    assert Settings(api_keys=",".join(made)).api_key_roles() == {m.rsplit("=", 1)[0]: "operator" for m in made}


def test_wrong_keys_from_one_address_are_held_off(tmp_path: Path) -> None:
    client = TestClient(build_api(Settings(api_keys=f"{GOOD}=viewer", database_url=f"sqlite:///{tmp_path}/r.db")))
    assert client.get("/api/v1/summary").status_code == 401, "no key: refused, but not a guess"
    for n in range(MAX_FAILURES):
        assert client.get("/api/v1/summary", headers={"X-API-Key": f"guess-{n:012d}-x"}).status_code == 401
    held = client.get("/api/v1/summary", headers={"X-API-Key": GOOD})
    assert held.status_code == 429 and held.headers["Retry-After"], "even the right key waits out the hold"


def test_the_dashboard_keeps_its_key_for_the_tab_and_cannot_be_framed(tmp_path: Path) -> None:
    client = TestClient(build_api(Settings(api_keys=f"{GOOD}=viewer", database_url=f"sqlite:///{tmp_path}/r.db")))
    page = client.get("/")
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert "localStorage" not in page.text and "sessionStorage" in page.text


def test_a_key_has_a_request_budget_and_a_trend_of_many_months_spends_more(tmp_path: Path) -> None:
    settings = Settings(
        api_keys=f"{GOOD}=viewer", database_url=f"sqlite:///{tmp_path}/r.db", api_rate_per_s=0.001, api_burst=20
    )
    client = TestClient(build_api(settings))
    key = {"X-API-Key": GOOD}
    assert client.get("/api/v1/reports/trend", params={"months": 12}, headers=key).status_code in (200, 503)
    spent = [client.get("/api/v1/connectors", headers=key).status_code for _ in range(10)]
    assert spent.count(429) == 2, "12 + 8 of 20 spent: the last two are held off"
    assert client.get("/api/v1/reports/trend", params={"months": 36}, headers=key).status_code == 429
