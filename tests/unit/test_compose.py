"""The integrators' compose stack: every hub service runs a command the CLI has, every HUB_* name it
or .env.example sets is a setting, infrastructure has health checks, and `docker compose config`
accepts it where a compose tool exists (skipped otherwise)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from hub.cli.main import cli
from hub.settings import Settings

DOCKER = Path(__file__).resolve().parents[2] / "docker"


def _compose() -> dict[str, Any]:
    found = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    assert isinstance(found, dict)
    return found


def _setting(name: str) -> bool:
    field = name.removeprefix("HUB_").lower()
    return field in Settings.model_fields or field.removesuffix("_file") in Settings.model_fields


def test_every_hub_service_runs_a_real_command_with_real_settings() -> None:
    services = _compose()["services"]
    assert {"kafka", "schema-registry", "postgres"} <= set(services)
    for name in ("kafka", "schema-registry", "postgres", "api", "callbacks"):
        assert "healthcheck" in services[name], name
    hub_services = {n: s for n, s in services.items() if s.get("image", "").startswith("${HUB_IMAGE")}
    assert {"projections", "monitor", "api", "connector-onestop", "policy-results-sync", "hub-init"} <= set(
        hub_services
    )
    for name, service in hub_services.items():
        for variable in service.get("environment", {}):
            assert variable.startswith("HUB_") and _setting(variable), (name, variable)
        if "command" in service:
            answer = CliRunner().invoke(cli, [*service["command"], "--help"])
            assert answer.exit_code == 0, (name, service["command"], answer.output)
        if name != "hub-init":
            assert service["depends_on"] == {"hub-init": {"condition": "service_completed_successfully"}}
    example = [line.split("=", 1)[0] for line in (DOCKER / ".env.example").read_text().splitlines() if "=" in line]
    assert all(_setting(v) for v in example if v.startswith("HUB_")), example


def test_docker_compose_config_accepts_the_stack(tmp_path: Path) -> None:
    tool = (
        ["docker", "compose"]
        if shutil.which("docker")
        and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0
        else ["docker-compose"]
        if shutil.which("docker-compose")
        else None
    )
    if tool is None:
        pytest.skip("no docker compose tool on this machine")
    copy = tmp_path / "docker"
    shutil.copytree(DOCKER, copy)
    (copy / ".env").write_text((copy / ".env.example").read_text())
    done = subprocess.run(
        [*tool, "-f", "compose.yaml", "--env-file", ".env", "config", "--quiet"],
        cwd=copy,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
