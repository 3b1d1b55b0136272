"""Every connector the hub can run, by name: the one place to see which systems feed the log."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hub.ports import EventLog, Upstream
from hub.settings import Settings

if TYPE_CHECKING:
    from connectors.dvcqg.client import DvcqgClient
    from connectors.dvcqg.mirror.policy import NationalMirror
    from connectors.dvcqg.results.sync import ResultsSync
    from connectors.paygov.client import PayGovClient
    from connectors.vnpost.client import VnpostClient
    from hub.runtime.policy_loop import Policy, PolicyOptions

__all__ = [
    "CONNECTORS",
    "POLICIES",
    "ConnectorSpec",
    "PolicySpec",
    "build_upstream",
    "dvcqg_client",
    "national_mirror",
    "paygov_client",
    "vnpost_client",
]


@dataclass(frozen=True)
class ConnectorSpec:
    name: str
    description: str
    endpoint: Callable[[Settings], str]
    build: Callable[[Settings], Upstream]


def _onestop(settings: Settings) -> Upstream:
    from connectors.onestop.client import OnestopUpstream

    return OnestopUpstream(
        settings.onestop_url,
        settings.identity_key_bytes(),
        timeout_s=settings.onestop_timeout_s,
        parallel_calls=settings.onestop_parallel_calls,
    )


def dvcqg_client(settings: Settings) -> DvcqgClient:
    from connectors.dvcqg.client import DvcqgClient

    return DvcqgClient(
        settings.dvcqg_url, settings.dvcqg_client_id, settings.dvcqg_secret(), timeout_s=settings.dvcqg_timeout_s
    )


def _dvcqg(settings: Settings) -> Upstream:
    from connectors.dvcqg.client import DvcqgUpstream

    return DvcqgUpstream(dvcqg_client(settings), settings.identity_key_bytes())


def _store_feed(settings: Settings) -> Upstream:
    from connectors.dvcqg.store_feed import StoreFeedUpstream

    return StoreFeedUpstream(dvcqg_client(settings))


CONNECTORS: dict[str, ConnectorSpec] = {
    "onestop": ConnectorSpec(
        "onestop", "provincial one-stop system (SOAP change feed)", lambda s: s.onestop_url, _onestop
    ),
    "dvcqg": ConnectorSpec(
        "dvcqg", "national portal: online submissions and ratings (REST feed)", lambda s: s.dvcqg_url, _dvcqg
    ),
    "dvcqg-store": ConnectorSpec(
        "dvcqg-store",
        "national data store: results revoked or edited there by others (REST feed)",
        lambda s: s.dvcqg_url,
        _store_feed,
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
    build: Callable[[Settings, EventLog], Policy]
    reads: tuple[str, ...]
    """The projections it acts on: it waits for their tables before it starts."""


def national_mirror(settings: Settings, events: EventLog) -> NationalMirror:
    from connectors.dvcqg.mirror.policy import MirrorOptions, NationalMirror
    from connectors.dvcqg.mirror.store import MirrorStore
    from hub.bootstrap import make_engine, make_log_end
    from hub.store.policy_marks import ReplayGuard

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


def paygov_client(settings: Settings) -> PayGovClient:
    from connectors.paygov.client import PayGovClient

    return PayGovClient(
        settings.paygov_url,
        settings.paygov_merchant_code,
        settings.paygov_secret_value(),
        timeout_s=settings.paygov_timeout_s,
    )


def vnpost_client(settings: Settings) -> VnpostClient:
    from connectors.vnpost.client import VnpostClient

    return VnpostClient(
        settings.vnpost_url,
        settings.vnpost_customer_code,
        settings.vnpost_secret_value(),
        timeout_s=settings.vnpost_timeout_s,
    )


def _policy_options(settings: Settings) -> PolicyOptions:
    from hub.runtime.policy_loop import PolicyOptions

    return PolicyOptions(
        batch=settings.policy_batch,
        retry_base_s=settings.policy_retry_base_s,
        retry_max_s=settings.policy_retry_max_s,
        max_attempts=settings.policy_max_attempts,
    )


def _payments(settings: Settings, events: EventLog) -> Policy:
    from connectors.paygov.book import PaymentBook
    from connectors.paygov.policy import PaymentPolicy
    from hub.bootstrap import make_engine, make_log_end
    from hub.store.policy_marks import ReplayGuard

    engine = make_engine(settings)
    guard = ReplayGuard(engine, "paygov-payments", ["payments"], make_log_end(settings))
    return PaymentPolicy(
        paygov_client(settings),
        PaymentBook(engine, events),
        events,
        guard,
        _policy_options(settings),
        requery_after_s=settings.paygov_requery_after_s,
        requery_every_s=settings.paygov_requery_every_s,
    )


def _postal(settings: Settings, events: EventLog) -> Policy:
    from connectors.vnpost.policy import PostalPolicy
    from hub.bootstrap import make_engine, make_log_end
    from hub.store.policy_marks import ReplayGuard

    engine = make_engine(settings)
    guard = ReplayGuard(engine, "vnpost-orders", ["dossier_state", "postal"], make_log_end(settings))
    return PostalPolicy(
        vnpost_client(settings),
        engine,
        events,
        guard,
        _policy_options(settings),
        track_after_s=settings.vnpost_track_after_s,
    )


def results_sync(settings: Settings, events: EventLog) -> ResultsSync:
    from connectors.dvcqg.results.sync import ResultsSync
    from hub.bootstrap import make_engine, make_log_end
    from hub.runtime.policy_loop import PolicyOptions
    from hub.store.policy_marks import ReplayGuard

    engine = make_engine(settings)
    guard = ReplayGuard(engine, "results-sync", ["results"], make_log_end(settings))
    options = PolicyOptions(
        batch=settings.policy_batch,
        concurrency=settings.results_sync_concurrency,
        retry_base_s=settings.policy_retry_base_s,
        retry_max_s=settings.policy_retry_max_s,
        max_attempts=settings.policy_max_attempts,
    )
    return ResultsSync(
        dvcqg_client(settings), engine, events, guard, options, source_timeout_s=settings.results_source_timeout_s
    )


POLICIES: dict[str, PolicySpec] = {
    "dvcqg-mirror": PolicySpec(
        "dvcqg-mirror",
        "mirrors each dossier's status and steps to the national portal (DongBoHoSoMC, CapNhatTienDoHoSoMC)",
        national_mirror,
        ("dossier_state", "timeline"),
    ),
    "paygov-payments": PolicySpec(
        "paygov-payments",
        "starts a PayGov payment for each fee assessed (INIT); asks about payments pending over 30 min (QUERY)",
        _payments,
        ("payments",),
    ),
    "results-sync": PolicySpec(
        "results-sync",
        "puts each digitised result (file streamed, hash and metadata verified) in the citizen's national data store",
        results_sync,
        ("results",),
    ),
    "vnpost-orders": PolicySpec(
        "vnpost-orders",
        "orders VNPost pickup of dossiers submitted by post and delivery of their results; polls silent items",
        _postal,
        ("dossier_state", "postal"),
    ),
}
