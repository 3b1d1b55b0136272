"""The one-stop connector's test set-up: settings aimed at a simulator, and a runner built as the CLI builds it."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

from hub.bootstrap import make_connector_runner, make_log, onestop_upstream
from hub.log.kafka_log import KafkaEventLog
from hub.runtime.connector_runtime import ConnectorRunner
from hub.settings import Settings
from simulators.onestop.simulator import OnestopSimulator
from simulators.province.read_back import fresh_topic

KEY = "integration-identity-key"


def connector_settings(kafka_settings: Settings, sim: OnestopSimulator, tmp_path: Path, **extra: object) -> Settings:
    return fresh_topic(kafka_settings).model_copy(
        update={
            "onestop_url": sim.url,
            "onestop_timeout_s": 0.5,
            "identity_key": SecretStr(KEY),
            "connector_page_size": 500,
            "connector_retry_max_s": 0.3,
            "database_url": f"sqlite:///{tmp_path}/hub.sqlite3",
            **extra,
        }
    )


def make_runner(settings: Settings) -> tuple[ConnectorRunner, KafkaEventLog]:
    log = make_log(settings)
    return make_connector_runner(onestop_upstream(settings), settings, log), log
