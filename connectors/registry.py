"""Every connector the hub can run, by name: the one place to see which systems feed the log."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from hub.ports import Upstream
from hub.settings import Settings

__all__ = ["CONNECTORS", "ConnectorSpec", "build_upstream"]


@dataclass(frozen=True)
class ConnectorSpec:
    name: str
    description: str
    endpoint: Callable[[Settings], str]
    build: Callable[[Settings], Upstream]


def _onestop(settings: Settings) -> Upstream:
    from connectors.onestop.client import OnestopUpstream

    return OnestopUpstream(settings.onestop_url, settings.identity_key_bytes(), timeout_s=settings.onestop_timeout_s)


def _dvcqg(settings: Settings) -> Upstream:
    from connectors.dvcqg.client import DvcqgClient, DvcqgUpstream

    client = DvcqgClient(
        settings.dvcqg_url, settings.dvcqg_client_id, settings.dvcqg_secret(), timeout_s=settings.dvcqg_timeout_s
    )
    return DvcqgUpstream(client, settings.identity_key_bytes())


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
