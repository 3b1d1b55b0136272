"""The composition root: every part of the hub is built here from settings, nothing at import time.

The CLI, the read API, the monitors, the demo and the test harness get their parts from here, so a
setting reaches every place a part is used. Which systems feed the log (``CONNECTORS``) and which
policies call them back (``POLICIES``) are listed here, each with its builder.

Connector modules (and the reconciliations, which use them) are imported inside their builders: the
SOAP client alone (zeep) costs ~0.1 s at the start of every hub process, and most never build it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from sqlalchemy.engine import Engine

from hub.log.codec import EventCodec
from hub.log.dead_letters import DeadLetters
from hub.log.kafka_log import KafkaEventLog
from hub.log.kafka_source import KafkaRecordSource
from hub.log.schema_registry import HttpSchemaRegistry
from hub.log.schemas import SchemaSet
from hub.ports import EventLog, Projection, TopicPartition, Upstream
from hub.runtime.connector_runtime import ConnectorRunner
from hub.runtime.policy_loop import Policy, PolicyOptions
from hub.runtime.projection_rebuild import RebuildProgress, rebuild_projection
from hub.runtime.projection_runner import ProjectionRunner
from hub.settings import Settings
from hub.store.connector_state import ConnectorStateStore
from hub.store.policy_marks import ReplayGuard
from hub.store.sql_store import make_engine as _engine
from hub.store.sql_store import migrate

if TYPE_CHECKING:
    from connectors.dvcqg.client import DvcqgClient
    from connectors.dvcqg.mirror.policy import NationalMirror
    from connectors.dvcqg.mirror.reconcile import ReconcileReport
    from connectors.dvcqg.results.sync import ResultsSync
    from connectors.onestop.client import OnestopUpstream
    from connectors.paygov.client import PayGovClient
    from connectors.vnpost.client import VnpostClient
    from hub.services.reconciliations import Outcome

__all__ = [
    "CONNECTORS",
    "POLICIES",
    "RECONCILIATIONS",
    "ConnectorSpec",
    "PolicySpec",
    "build_upstream",
    "dvcqg_client",
    "make_codec",
    "make_connector_runner",
    "make_engine",
    "make_log",
    "make_log_end",
    "make_projection_runner",
    "make_schemas",
    "national_mirror",
    "onestop_upstream",
    "opened_log",
    "paygov_client",
    "rebuild",
    "reconcile_dvcqg",
    "reconcile_payments",
    "reconcile_postal",
    "reconcile_results",
    "results_sync",
    "vnpost_client",
]


# -- the log and the store ---------------------------------------------------------------------------


def make_schemas(settings: Settings) -> SchemaSet:
    return SchemaSet(settings.schemas_dir)


def make_codec(settings: Settings, schemas: SchemaSet | None = None) -> EventCodec:
    """Single-object Avro, or Confluent framing when HUB_SCHEMA_REGISTRY_URL is set."""
    schemas = schemas or make_schemas(settings)
    if settings.schema_registry_url:
        registry = HttpSchemaRegistry(settings.schema_registry_url, settings.schema_registry_timeout_s)
        return EventCodec(schemas, registry, subject=f"{settings.dossier_topic}-value")
    return EventCodec(schemas)


def make_log(settings: Settings) -> KafkaEventLog:
    """The dossier log (producer) with the codec the settings ask for."""
    return KafkaEventLog(settings, make_codec(settings))


@contextmanager
def opened_log(settings: Settings) -> Iterator[KafkaEventLog]:
    """``make_log`` closed on the way out (its producer flushes what it holds)."""
    log = make_log(settings)
    try:
        yield log
    finally:
        log.close()


def make_engine(settings: Settings, *, writer: bool = True) -> Engine:
    """The read store's engine, migrated to the newest hub schema."""
    engine = _engine(settings.database_url_value(), writer=writer)
    if writer:
        migrate(engine)
    return engine


def make_log_end(settings: Settings, topic: str | None = None) -> Callable[[], dict[TopicPartition, int]]:
    """Reads a topic's end offsets when called (default the dossier topic: a policy's first marks)."""

    def read() -> dict[TopicPartition, int]:
        source = KafkaRecordSource(settings, [topic or settings.dossier_topic], from_beginning=False)
        try:
            return source.end_offsets()
        finally:
            source.close()

    return read


# -- runners -----------------------------------------------------------------------------------------


def make_connector_runner(upstream: Upstream, settings: Settings, log: KafkaEventLog) -> ConnectorRunner:
    """A connector over ``upstream``: events and dead letters go through ``log``, state to the read store."""
    store = ConnectorStateStore(make_engine(settings))
    return ConnectorRunner(upstream, log, DeadLetters(log, settings.dead_letter_topic), store, settings)


def make_projection_runner(
    settings: Settings,
    log: KafkaEventLog,
    engine: Engine,
    projections: Sequence[Projection],
    *,
    name: str,
    rebuild_generation: int | None = None,
) -> ProjectionRunner:
    """``projections`` over ``engine``, decoding with ``log``'s codec and parking what it cannot decode."""
    return ProjectionRunner(
        engine,
        log.codec,
        DeadLetters(log, settings.dead_letter_topic),
        projections,
        name=name,
        rebuild_generation=rebuild_generation,
    )


def rebuild(
    settings: Settings, target: Projection, progress: Callable[[RebuildProgress], None] | None = None
) -> tuple[int, int]:
    """Replay the whole log into a new generation of ``target`` while the old one serves, then swap.
    Returns the new generation and the number of records replayed."""
    engine = make_engine(settings)
    log = make_log(settings)
    source = KafkaRecordSource(settings, [settings.dossier_topic])
    try:
        return rebuild_projection(
            engine,
            target,
            source,
            lambda generation: make_projection_runner(
                settings, log, engine, [target], name=f"rebuild-{target.name}", rebuild_generation=generation
            ),
            batch=settings.projection_batch,
            progress=progress,
        )
    finally:
        source.close()
        log.close()
        engine.dispose()


# -- the external systems ----------------------------------------------------------------------------


def onestop_upstream(settings: Settings) -> OnestopUpstream:
    """The provincial one-stop's change feed and results, with the configured timeout and parallelism."""
    from connectors.onestop.client import OnestopUpstream

    return OnestopUpstream(
        settings.onestop_url,
        settings.identity_key_bytes(),
        timeout_s=settings.onestop_timeout_s,
        parallel_calls=settings.onestop_parallel_calls,
        max_bytes=settings.upstream_max_bytes,
    )


def dvcqg_client(settings: Settings) -> DvcqgClient:
    from connectors.dvcqg.client import DvcqgClient

    return DvcqgClient(
        settings.gateway_url("dvcqg"),
        settings.dvcqg_client_id,
        settings.dvcqg_secret(),
        timeout_s=settings.dvcqg_timeout_s,
        max_bytes=settings.upstream_max_bytes,
    )


def paygov_client(settings: Settings) -> PayGovClient:
    from connectors.paygov.client import PayGovClient

    return PayGovClient(
        settings.gateway_url("paygov"),
        settings.paygov_merchant_code,
        settings.paygov_secret_value(),
        timeout_s=settings.paygov_timeout_s,
        max_bytes=settings.upstream_max_bytes,
    )


def vnpost_client(settings: Settings) -> VnpostClient:
    from connectors.vnpost.client import VnpostClient

    return VnpostClient(
        settings.gateway_url("vnpost"),
        settings.vnpost_customer_code,
        settings.vnpost_secret_value(),
        timeout_s=settings.vnpost_timeout_s,
        max_bytes=settings.upstream_max_bytes,
    )


# -- connectors: what feeds the log ------------------------------------------------------------------


@dataclass(frozen=True)
class ConnectorSpec:
    name: str
    description: str
    endpoint: Callable[[Settings], str]
    build: Callable[[Settings], Upstream]


def _dvcqg_feed(settings: Settings) -> Upstream:
    from connectors.dvcqg.client import DvcqgUpstream

    return DvcqgUpstream(dvcqg_client(settings), settings.identity_key_bytes())


def _store_feed(settings: Settings) -> Upstream:
    from connectors.dvcqg.store_feed import StoreFeedUpstream

    return StoreFeedUpstream(dvcqg_client(settings))


CONNECTORS: dict[str, ConnectorSpec] = {
    "onestop": ConnectorSpec(
        "onestop", "provincial one-stop system (SOAP change feed)", lambda s: s.onestop_url, onestop_upstream
    ),
    "dvcqg": ConnectorSpec(
        "dvcqg", "national portal: online submissions and ratings (REST feed)", lambda s: s.dvcqg_url, _dvcqg_feed
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


# -- policies: what calls the systems back -----------------------------------------------------------

P = TypeVar("P", bound=Policy)
Periodic = list[tuple[float, Callable[[], object]]]
"""Work a running policy does between its passes: (at most every so many seconds, what to call)."""


def policy_options(settings: Settings, *, concurrency: int | None = None) -> PolicyOptions:
    return PolicyOptions(
        batch=settings.policy_batch,
        concurrency=PolicyOptions.concurrency if concurrency is None else concurrency,
        retry_base_s=settings.policy_retry_base_s,
        retry_max_s=settings.policy_retry_max_s,
        max_attempts=settings.policy_max_attempts,
    )


def _replay_guard(settings: Settings, engine: Engine, name: str, reads: Sequence[str]) -> ReplayGuard:
    return ReplayGuard(engine, name, list(reads), make_log_end(settings))


def national_mirror(settings: Settings, events: EventLog) -> NationalMirror:
    from connectors.dvcqg.mirror.policy import MirrorOptions, NationalMirror
    from connectors.dvcqg.mirror.store import MirrorStore

    engine = make_engine(settings)
    options = MirrorOptions(
        batch=settings.dvcqg_mirror_batch,
        concurrency=settings.dvcqg_mirror_concurrency,
        retry_base_s=settings.dvcqg_mirror_retry_base_s,
        retry_max_s=settings.dvcqg_mirror_retry_max_s,
        max_attempts=settings.dvcqg_mirror_max_attempts,
    )
    guard = _replay_guard(settings, engine, "dvcqg-mirror", POLICIES["dvcqg-mirror"].reads)
    return NationalMirror(dvcqg_client(settings), MirrorStore(engine), events, guard, options)


def results_sync(settings: Settings, events: EventLog) -> ResultsSync:
    from connectors.dvcqg.results.sync import ResultsSync

    engine = make_engine(settings)
    guard = _replay_guard(settings, engine, "results-sync", POLICIES["results-sync"].reads)
    options = policy_options(settings, concurrency=settings.results_sync_concurrency)
    return ResultsSync(
        dvcqg_client(settings),
        engine,
        events,
        guard,
        options,
        source_timeout_s=settings.results_source_timeout_s,
        source_hosts=settings.result_source_hosts(),
    )


def _payments(settings: Settings, events: EventLog) -> Policy:
    from connectors.paygov.book import PaymentBook
    from connectors.paygov.policy import PaymentPolicy

    engine = make_engine(settings)
    return PaymentPolicy(
        paygov_client(settings),
        PaymentBook(engine, events),
        events,
        _replay_guard(settings, engine, "paygov-payments", POLICIES["paygov-payments"].reads),
        policy_options(settings),
        requery_after_s=settings.paygov_requery_after_s,
        requery_every_s=settings.paygov_requery_every_s,
    )


def _postal(settings: Settings, events: EventLog) -> Policy:
    from connectors.vnpost.policy import PostalPolicy

    engine = make_engine(settings)
    return PostalPolicy(
        vnpost_client(settings),
        engine,
        events,
        _replay_guard(settings, engine, "vnpost-orders", POLICIES["vnpost-orders"].reads),
        policy_options(settings),
        track_after_s=settings.vnpost_track_after_s,
    )


def _mirror_checks(
    settings: Settings, mirror: NationalMirror, log: EventLog, every_s: float | None, say: Callable[[str], None]
) -> tuple[str, Periodic]:
    from connectors.dvcqg.mirror.reconcile import RollingReconcile

    period = settings.dvcqg_reconcile_interval_s if every_s is None else every_s

    def finished(report: ReconcileReport) -> None:
        say(f"reconcile {json.dumps(report.summary())}")

    # One page per call, between passes, so a check never holds the mirror up for long.
    return f"divergence check every {period:.0f} s", [(0.2, RollingReconcile(mirror, period, finished))]


def _results_checks(
    settings: Settings, sync: ResultsSync, log: EventLog, every_s: float | None, say: Callable[[str], None]
) -> tuple[str, Periodic]:
    from hub.services.reconciliations import reconcile_result_copies

    period = settings.results_reconcile_interval_s if every_s is None else every_s

    def check() -> None:
        outcome = reconcile_result_copies(sync, onestop_upstream(settings), log)
        say(f"reconcile {json.dumps(outcome.summary)}")

    return f"reconciliation every {period:.0f} s", [(period, check)]


@dataclass(frozen=True)
class PolicySpec(Generic[P]):
    name: str
    description: str
    build: Callable[[Settings, EventLog], P]
    reads: tuple[str, ...]
    """The projections it acts on: it waits for their tables before it starts."""
    checks: Callable[[Settings, P, EventLog, float | None, Callable[[str], None]], tuple[str, Periodic]] | None = None
    """Its periodic reconciliation, if it has one: a line saying what and how often, and the work."""


POLICIES: dict[str, PolicySpec[Any]] = {
    "dvcqg-mirror": PolicySpec(
        "dvcqg-mirror",
        "mirrors each dossier's status and steps to the national portal (DongBoHoSoMC, CapNhatTienDoHoSoMC)",
        national_mirror,
        ("dossier_state", "timeline"),
        _mirror_checks,
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
        _results_checks,
    ),
    "vnpost-orders": PolicySpec(
        "vnpost-orders",
        "orders VNPost pickup of dossiers submitted by post and delivery of their results; polls silent items",
        _postal,
        ("dossier_state", "postal"),
    ),
}


# -- reconciliations, built and run ------------------------------------------------------------------


def reconcile_dvcqg(
    settings: Settings,
    codes: Sequence[str] | None = None,
    repair: bool = True,
    progress: Callable[[Any], None] | None = None,
) -> Outcome:
    """National portal: every dossier it acknowledged, looked up and compared; repairable ones re-sent."""
    from hub.services.reconciliations import reconcile_national

    with opened_log(settings) as log, closing(national_mirror(settings, log)) as mirror:
        return reconcile_national(mirror, codes=codes, repair=repair, progress=progress)


def reconcile_payments(settings: Settings) -> Outcome:
    """PayGov's settlement statement against the hub's fees and payments."""
    from connectors.paygov.book import PaymentBook
    from hub.services.reconciliations import reconcile_payment_book

    with opened_log(settings) as log, closing(paygov_client(settings)) as client:
        book = PaymentBook(make_engine(settings), log)
        return reconcile_payment_book(book, client, log, in_flight_s=settings.paygov_requery_after_s)


def reconcile_postal(settings: Settings) -> Outcome:
    """VNPost's orders against the hub's postal items."""
    from hub.services.reconciliations import reconcile_postal_items

    with opened_log(settings) as log, closing(vnpost_client(settings)) as client:
        return reconcile_postal_items(make_engine(settings), client, log)


def reconcile_results(settings: Settings, with_onestop: bool = True) -> Outcome:
    """The one-stop's digitised results, the hub's and the national data store's; drift is repaired by
    the running results-sync."""
    from hub.services.reconciliations import reconcile_result_copies

    with opened_log(settings) as log, closing(results_sync(settings, log)) as sync:
        return reconcile_result_copies(sync, onestop_upstream(settings) if with_onestop else None, log)


RECONCILIATIONS: dict[str, Callable[[Settings], Outcome]] = {
    "dvcqg": reconcile_dvcqg,
    "payments": reconcile_payments,
    "postal": reconcile_postal,
    "results": reconcile_results,
}
