"""Every connector the hub can run, by name: the one place to see which systems feed the log."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hub.ports import EventLog, Upstream
from hub.settings import Settings

if TYPE_CHECKING:
    from connectors.dvcqg.client import DvcqgClient
    from connectors.dvcqg.mirror import NationalMirror

__all__ = ["CONNECTORS", "POLICIES", "ConnectorSpec", "PolicySpec", "build_upstream", "dvcqg_client"]


@dataclass(frozen=True)
class ConnectorSpec:
    name: str
    description: str
    endpoint: Callable[[Settings], str]
    build: Callable[[Settings], Upstream]


def _onestop(settings: Settings) -> Upstream:
    from connectors.onestop.client import OnestopUpstream

    return OnestopUpstream(settings.onestop_url, settings.identity_key_bytes(), timeout_s=settings.onestop_timeout_s)


def dvcqg_client(settings: Settings) -> DvcqgClient:
    from connectors.dvcqg.client import DvcqgClient

    return DvcqgClient(
        settings.dvcqg_url, settings.dvcqg_client_id, settings.dvcqg_secret(), timeout_s=settings.dvcqg_timeout_s
    )


def _dvcqg(settings: Settings) -> Upstream:
    from connectors.dvcqg.client import DvcqgUpstream

    return DvcqgUpstream(dvcqg_client(settings), settings.identity_key_bytes())


CONNECTORS: dict[str, ConnectorSpec] = {
    "onestop": ConnectorSpec(
        "onestop", "provincial one-stop system (SOAP change feed)", lambda s: s.onestop_url, _onestop
    ),
    "dvcqg": ConnectorSpec(
        "dvcqg", "national portal: online submissions and ratings (REST feed)", lambda s: s.dvcqg_url, _dvcqg
    ),
}


def build_upstream(name: str, settings: Settings) -> Upstream:
    try:
        spec = CONNECTORS[name]
    except KeyError:
        raise KeyError(f"no connector named {name!r} (known: {', '.join(CONNECTORS)})") from None
    return spec.build(settings)


@dataclass(frozen=True)
class PolicySpec:
    name: str
    description: str
    build: Callable[[Settings, EventLog], NationalMirror]


def _national_mirror(settings: Settings, events: EventLog) -> NationalMirror:
    from connectors.dvcqg.mirror import MirrorOptions, NationalMirror
    from connectors.dvcqg.mirror_store import MirrorStore
    from hub.bootstrap import make_engine, make_log_end
    from hub.policy_marks import ReplayGuard

    engine = make_engine(settings)
    options = MirrorOptions(
        batch=settings.dvcqg_mirror_batch,
        concurrency=settings.dvcqg_mirror_concurrency,
        retry_base_s=settings.dvcqg_mirror_retry_base_s,
        retry_max_s=settings.dvcqg_mirror_retry_max_s,
        max_attempts=settings.dvcqg_mirror_max_attempts,
    )
    guard = ReplayGuard(engine, "dvcqg-mirror", ["dossier_state", "timeline"], make_log_end(settings))
    return NationalMirror(dvcqg_client(settings), MirrorStore(engine), events, guard, options)


POLICIES: dict[str, PolicySpec] = {
    "dvcqg-mirror": PolicySpec(
        "dvcqg-mirror",
        "mirrors each dossier's status and steps to the national portal (DongBoHoSoMC, CapNhatTienDoHoSoMC)",
        _national_mirror,
    ),
}
