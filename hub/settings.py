"""Typed settings, one ``HUB_*`` environment variable each. Nothing here connects to anything."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from hub.errors import ConfigError

__all__ = ["PUBLISHED_TEST_SECRETS", "Settings"]

log = logging.getLogger(__name__)

# Secrets printed by the simulators (connectors/*/simulator.py) and documented for tests: a deployment
# that uses one is open to anybody who read this repository.
PUBLISHED_TEST_SECRETS = frozenset({"hub-secret", "paygov-test-secret", "vnpost-test-secret"})


MIN_KEY_BITS = 64  # a key's length x log2(its distinct characters): "a" x 16 has 0, a 16-char hex key 64


def _guessable(key: str) -> bool:
    """True for keys far weaker than their length suggests (one letter repeated, "0101010101010101")."""
    distinct = len(set(key))
    return distinct < 6 or len(key) * math.log2(distinct) < MIN_KEY_BITS


class Settings(BaseSettings):
    """Everything the hub reads from its environment. Secrets may come from ``*_FILE`` paths instead."""

    model_config = SettingsConfigDict(env_prefix="HUB_", extra="ignore", frozen=True)

    demo: bool = False
    """Demo mode (`hub demo`, the tests): accepts the simulators' published secrets. Never in production."""
    kafka_bootstrap: str = "127.0.0.1:9092"
    """Comma-separated Kafka bootstrap servers."""
    kafka_request_timeout_ms: int = 30_000
    """Upper bound on any one broker request (produce, metadata, admin)."""
    kafka_bootstrap_timeout_ms: int = 30_000
    """How long to wait for a first broker connection before reporting Kafka unreachable."""
    kafka_session_timeout_ms: int = 10_000
    """Consumer group session timeout: how fast a dead runner's partitions move to the others."""
    kafka_idempotence: bool = True
    """Idempotent producer (needs a broker that grants producer ids; Kafka >= 0.11 and Tansu do)."""
    kafka_security_protocol: str = "PLAINTEXT"
    """PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL, for every Kafka client of the hub (kafka-python, aiokafka, faust)."""
    kafka_ssl_cafile: Path | None = None
    """CA bundle that signed the brokers' certificates (SSL, SASL_SSL); default: the system's."""
    kafka_ssl_certfile: Path | None = None
    """Client certificate for mutual TLS (with HUB_KAFKA_SSL_KEYFILE)."""
    kafka_ssl_keyfile: Path | None = None
    """Client private key for mutual TLS."""
    kafka_ssl_check_hostname: bool = True
    """Check that the broker's certificate names the host connected to."""
    kafka_sasl_mechanism: str = "SCRAM-SHA-512"
    """PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (SASL_*)."""
    kafka_sasl_username: str | None = None
    """SASL user (SASL_*)."""
    kafka_sasl_password: SecretStr | None = None
    """SASL password; or HUB_KAFKA_SASL_PASSWORD_FILE."""
    kafka_sasl_password_file: Path | None = None
    """File holding the SASL password."""
    kafka_fetch_max_bytes: int = Field(default=1_048_576, ge=1024)
    """Most bytes of records one fetch from Kafka brings in, and the most from one partition: a consumer's
    read-ahead. aiokafka's 50 MB default let a replaying runner hold tens of MB of fetched, unread records
    (more, the longer the log: the test broker, Tansu, ignores the per-partition limit and fills each
    response up to this one). 1 MiB is ~10,000 compressed events, enough to keep replays as fast."""
    kafka_stall_exit_s: float = 120.0
    """`hub projections run` exits (code 75) when its consumer has not come back from Kafka for this long,
    for its supervisor to restart it (a safety net: kafka-python hung in group joins after network cuts); 0: never."""
    dossier_topic: str = "motcua.dossier-events"
    """The log: every dossier event, keyed by dossier code."""
    dead_letter_topic: str = "motcua.dead-letter"
    """Where undecodable or unmappable records are parked, original bytes kept, reason in headers."""
    topic_partitions: int = 12
    """Partitions of the dossier topic when the hub creates it: the ceiling on parallel consumers."""
    topic_replication: int = 1
    """Replication factor when the hub creates topics; set 3 on a production cluster."""
    schema_registry_url: str | None = None
    """Confluent-compatible schema registry; when set, events are written in the Confluent wire format."""
    schema_registry_timeout_s: float = 10.0
    """Timeout of one schema registry call."""
    database_url: str = "sqlite:///var/motcua-hub.sqlite3"
    """Read store: SQLite file (embedded default) or postgresql+psycopg://user@host/db (production)."""
    projection_group: str = "motcua-hub-projections"
    """Kafka consumer group of the projection runners; runners in one group split the partitions."""
    projection_batch: int = 10_000
    """Most records applied in one database transaction. While catching up (a rebuild, a replay) big
    batches fold each dossier fewer times, and a runner's peak memory grows with them: 1M-event replays
    (bench/projection_replay.py, 2 runners) ran at 40,122-40,778/s with 138 MB per runner at 10,000,
    and at 42,321/s with 170 MB at 20,000, within the same hour (runs of one setting vary by ~5%);
    after the runners stopped waiting for each other's offset locks, 41,573/s at 10,000 against
    42,184/s at 20,000 (2026-11-24). A runner that keeps up gets small batches anyway."""
    connector_page_size: int = 200
    """Records asked for per page from an upstream feed."""
    connector_poll_interval_s: float = 5.0
    """Pause after an upstream says it has nothing more, before asking again."""
    connector_retry_attempts: int = 4
    """Attempts per upstream call (the first included) before the page counts as failed."""
    connector_retry_max_s: float = 10.0
    """Ceiling of the exponential backoff (with jitter) between attempts."""
    breaker_fail_max: int = 5
    """Consecutive failures that open an upstream endpoint's circuit breaker."""
    breaker_reset_s: float = 30.0
    """How long an open breaker waits before letting one trial call through (half-open)."""
    onestop_url: str = "http://127.0.0.1:8090/"
    """SOAP endpoint of the provincial one-stop system (the WSDL is shipped; only the address varies)."""
    onestop_timeout_s: float = 10.0
    """Connect and read timeout of each one-stop call (zeep's own default is none)."""
    upstream_max_bytes: int = Field(default=8 * 1024 * 1024, gt=0)
    """Largest answer read from an external system (one-stop SOAP, DVCQG, PayGov, VNPost), counted after
    decompression; a larger one is an upstream error, not read further."""
    onestop_parallel_calls: int = Field(default=8, ge=1, le=64)
    """Digitised-result lookups (LayKetQuaSoHoa) of one page made at the same time."""
    dvcqg_url: str = "http://127.0.0.1:8091/"
    """Base URL of the national portal's integration API (DVCQG)."""
    dvcqg_client_id: str = "motcua-hub"
    """Client id the portal issued to this province's hub."""
    dvcqg_client_secret: SecretStr | None = None
    """Client secret for the portal's token endpoint (or HUB_DVCQG_CLIENT_SECRET_FILE)."""
    dvcqg_client_secret_file: Path | None = None
    """File holding the portal client secret (a mounted secret)."""
    dvcqg_timeout_s: float = 10.0
    """Timeout of each call to the portal."""
    dvcqg_mirror_batch: int = 200
    """Dossiers the national mirror takes per pass."""
    dvcqg_mirror_concurrency: int = 8
    """Calls to the portal the mirror keeps in flight."""
    dvcqg_mirror_retry_base_s: float = 2.0
    """First backoff after a failed mirror attempt; doubles per attempt."""
    dvcqg_mirror_retry_max_s: float = 300.0
    """Ceiling of the mirror's backoff."""
    dvcqg_mirror_max_attempts: int = 8
    """Failed attempts after which a dossier version is parked (retried when it changes, or repaired)."""
    dvcqg_reconcile_interval_s: float = 3600.0
    """How often the running mirror compares the portal's copies with the hub (0: only on demand)."""
    policy_interval_s: float = 1.0
    """Pause of a policy between passes when it found nothing to do."""
    policy_batch: int = 200
    """Items the payment and postal policies take per pass."""
    policy_retry_base_s: float = 2.0
    """First backoff after a failed call of the payment and postal policies; doubles per attempt."""
    policy_retry_max_s: float = 300.0
    """Ceiling of that backoff."""
    policy_max_attempts: int = 8
    """Failed attempts after which an item is parked (until `hub reconcile` or an operator acts)."""
    results_sync_concurrency: int = 4
    """Results the sync streams to the national data store at once (each streams in 64 KiB chunks)."""
    results_reconcile_interval_s: float = 3600.0
    """How often the running results-sync reconciles the one-stop, the hub and the national store (0: off)."""
    results_source_hosts: str = ""
    """Hosts the results sync may fetch digitised files from, comma-separated; empty: the one-stop's own
    host (HUB_ONESTOP_URL). Redirects are never followed."""
    results_source_timeout_s: float = 60.0
    """Timeout of reading a result file from its source (between chunks, not for the whole file)."""
    paygov_url: str = "http://127.0.0.1:8092/"
    """Base URL of PayGov's merchant API (INIT, QUERY, settlement statement)."""
    paygov_merchant_code: str = "MOTCUA"
    """Merchant code PayGov issued to the province (sent as X-Merchant-Code)."""
    paygov_secret: SecretStr | None = None
    """Merchant secret the hub calls PayGov with (sent with every call); or HUB_PAYGOV_SECRET_FILE."""
    paygov_secret_file: Path | None = None
    """File holding the PayGov merchant secret."""
    paygov_ipn_key: SecretStr | None = None
    """Key that verifies PayGov's IPN signatures (MaXacThuc), never the merchant secret; or
    HUB_PAYGOV_IPN_KEY_FILE. Only demo mode falls back to the merchant secret."""
    paygov_ipn_key_file: Path | None = None
    """File holding the PayGov IPN key."""
    paygov_timeout_s: float = 10.0
    """Timeout of each call to PayGov."""
    paygov_requery_after_s: float = 1800.0
    """A payment with no outcome this long after INIT is asked for with QUERY (PayGov's guides: 30 min)."""
    paygov_requery_every_s: float = 600.0
    """Pause between two QUERYs of the same still-pending payment."""
    vnpost_url: str = "http://127.0.0.1:8093/"
    """Base URL of the VNPost BCCI order API."""
    vnpost_customer_code: str = "MOTCUA"
    """CustomerCode VNPost issued to the province."""
    vnpost_secret: SecretStr | None = None
    """VNPost API token the hub calls VNPost with (sent with every call); or HUB_VNPOST_SECRET_FILE."""
    vnpost_secret_file: Path | None = None
    """File holding the VNPost secret."""
    vnpost_callback_key: SecretStr | None = None
    """Key that verifies VNPost's tracking callbacks (X-Signature), never the API token; or
    HUB_VNPOST_CALLBACK_KEY_FILE. Only demo mode falls back to the API token."""
    vnpost_callback_key_file: Path | None = None
    """File holding the VNPost callback key."""
    vnpost_timeout_s: float = 10.0
    """Timeout of each call to VNPost."""
    vnpost_track_after_s: float = 3600.0
    """An item with no tracking news this long is asked for (a lost callback must not hide a delivery)."""
    api_host: str = "127.0.0.1"
    """Interface of the read API and dashboard (`hub api serve`)."""
    api_port: int = 8080
    """Port of the read API and dashboard."""
    api_max_bytes: int = Field(default=65_536, gt=0)
    """Largest request body the read API takes (413 above it; its few POST bodies are small filters)."""
    http_body_timeout_s: float = Field(default=10.0, gt=0)
    """Both HTTP edges: a request body not fully received this long after its headers is answered 408."""
    http_max_connections: int = Field(default=200, gt=0)
    """Both HTTP edges: connections served at once; more are answered 503 (uvicorn's limit_concurrency)."""
    http_keep_alive_s: float = Field(default=5.0, gt=0)
    """Both HTTP edges: how long an idle keep-alive connection is held open."""
    api_rate_per_s: float = Field(default=10.0, gt=0)
    """Requests per second one API key may make on average (a month of /reports/trend counts as one)."""
    api_burst: float = Field(default=60.0, gt=0)
    """Requests one API key may make at once before its rate applies (429 above it)."""
    api_docs: bool = False
    """Serve /docs, /redoc and /openapi.json on the read API (always in demo mode; never on the callback endpoint)."""
    health_cache_s: float = Field(default=5.0, gt=0)
    """How long /healthz answers from its last probe of the database and broker (one probe at a time)."""
    api_keys: SecretStr | None = None
    """API keys and their roles, ``KEY=viewer,KEY2=operator`` (keys of at least 16 characters); or HUB_API_KEYS_FILE."""
    api_keys_file: Path | None = None
    """File of API keys: one ``KEY=ROLE`` per line (# comments allowed)."""
    monitor_app_id: str = "motcua-hub-monitor"
    """Consumer group (faust app id) of `hub monitor run`; workers with the same id split the dossier topic."""
    monitor_data_dir: Path | None = None
    """Where a monitor worker keeps faust's local files (default: var/<monitor_app_id>-data, beside the
    embedded read store; faust's own default was <app id>-data in whatever directory the hub ran from)."""
    monitor_topic_prefix: str = "hub.monitoring."
    """Names of the monitoring topics: this prefix + sla, health, health-samples, security."""
    monitor_topic_partitions: int = 3
    """Partitions of the hub.monitoring.* topics when the hub creates them."""
    monitor_sla_horizon_s: float = 86_400.0
    """DUE_SOON is raised this long before a dossier's due date."""
    monitor_scan_interval_s: float = 30.0
    """How often (real seconds) the SLA monitor checks dossiers whose due moments have come."""
    monitor_health_interval_s: float = 30.0
    """How often (real seconds) connector and hub health is sampled and published."""
    clock_speed: float = 1.0
    """Business seconds per real second (SLA monitor, due lists, simulated traffic): 1 in production."""
    clock_start: datetime | None = None
    """Business time at HUB_CLOCK_ANCHOR (default: the anchor itself, i.e. real time)."""
    clock_anchor: float | None = None
    """The real instant (Unix seconds) at which business time was HUB_CLOCK_START (default: process start)."""
    monitor_error_rate: float = 0.2
    """ERROR_RATE is raised when this share of a connector's fetches in one sample failed..."""
    monitor_error_min_attempts: int = 5
    """...and it made at least this many (fewer say too little either way)."""
    monitor_cursor_stall_s: float = 1800.0
    """CURSOR_STALL: a connector kept fetching or failing but its cursor has not moved for this long."""
    monitor_dead_letters_per_min: float = 1.0
    """DEAD_LETTERS is raised at this many new dead letters per minute (cleared by a sample with none)."""
    monitor_results_backlog_age_s: float = 3600.0
    """RESULTS_SYNC_BACKLOG: the oldest result not in the national data store has waited this long..."""
    monitor_results_backlog: int = 1000
    """...or this many results wait."""
    monitor_divergences: int = 1
    """DIVERGENCES is raised per source system when a sample sees this many new divergences."""
    callback_host: str = "127.0.0.1"
    """Interface of the callback endpoint (PayGov IPN, VNPost tracking): `hub callbacks serve`."""
    callback_port: int = 8095
    """Port of the callback endpoint."""
    callback_max_bytes: int = 16_384
    """Largest callback body accepted; larger ones are refused with 413 before parsing."""
    callback_rate_per_s: float = Field(default=50.0, gt=0)
    """Callbacks taken per second from one address on average (429 above it, counted, not recorded one by one)."""
    callback_burst: float = Field(default=200.0, gt=0)
    """Callbacks one address may send at once before its rate applies."""
    callback_max_age_s: float = Field(default=172_800.0, gt=0)
    """Callbacks whose message time (PayGov's ThoiGianGD, VNPost's Time) is older are refused as replays."""
    schemas_dir: Path | None = None
    """Override the Avro schema directory (default: the schemas shipped with the hub)."""
    identity_key: SecretStr | None = None
    """Key of the HMAC that replaces citizen identity numbers in events. Keep it stable per deployment."""
    identity_key_file: Path | None = None
    """File holding the identity key (e.g. a mounted secret); used when HUB_IDENTITY_KEY is unset."""

    def _secret(self, value: SecretStr | None, file: Path | None, name: str, purpose: str) -> str:
        """A secret from HUB_<name> or the file HUB_<name>_FILE; a ConfigError when neither is set, or
        when it is a published test secret or placeholder outside demo mode."""
        if value is not None:
            found = value.get_secret_value()
        elif file is not None:
            try:
                found = file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError(f"cannot read HUB_{name}_FILE: {exc}") from exc
        else:
            raise ConfigError(f"set HUB_{name} or HUB_{name}_FILE to {purpose}")
        return self.refuse_default(name, found)

    def refuse_default(self, name: str, secret: str) -> str:
        """``secret`` unless it is one anybody can read (the simulators' or .env.example's) and this is
        not demo mode (HUB_DEMO: `hub demo` and the tests)."""
        if not self.demo and (secret in PUBLISHED_TEST_SECRETS or secret.lower().startswith("change-me")):
            raise ConfigError(
                f"HUB_{name} is a published test secret or a placeholder: set a real one "
                "(only demo mode, HUB_DEMO=1, accepts it)"
            )
        return secret

    def database_url_value(self) -> str:
        """HUB_DATABASE_URL, refused outside demo mode when the password in it is a placeholder or a
        published test secret (docker/.env.example's ``POSTGRES_PASSWORD=change-me`` ends up there)."""
        password = urlsplit(self.database_url).password
        if password:
            self.refuse_default("DATABASE_URL", unquote(password))
        return self.database_url

    def dvcqg_secret(self) -> str:
        return self._secret(
            self.dvcqg_client_secret, self.dvcqg_client_secret_file, "DVCQG_CLIENT_SECRET", "reach the national portal"
        )

    def kafka_sasl_password_value(self) -> str:
        return self._secret(
            self.kafka_sasl_password, self.kafka_sasl_password_file, "KAFKA_SASL_PASSWORD", "authenticate to Kafka"
        )

    def paygov_secret_value(self) -> str:
        return self._secret(self.paygov_secret, self.paygov_secret_file, "PAYGOV_SECRET", "reach PayGov")

    def vnpost_secret_value(self) -> str:
        return self._secret(self.vnpost_secret, self.vnpost_secret_file, "VNPOST_SECRET", "reach VNPost")

    def paygov_ipn_key_value(self) -> str:
        return self._signing_key(
            self.paygov_ipn_key, self.paygov_ipn_key_file, "PAYGOV_IPN_KEY", "PAYGOV_SECRET", self.paygov_secret_value
        )

    def vnpost_callback_key_value(self) -> str:
        return self._signing_key(
            self.vnpost_callback_key,
            self.vnpost_callback_key_file,
            "VNPOST_CALLBACK_KEY",
            "VNPOST_SECRET",
            self.vnpost_secret_value,
        )

    def _signing_key(
        self, value: SecretStr | None, file: Path | None, name: str, calling_name: str, calling: Callable[[], str]
    ) -> str:
        """A key that verifies a gateway's callbacks. It must not be the credential the hub calls that
        gateway with: that one travels with every request (proxies, gateway logs), and whoever sees it
        could sign a paid IPN or a delivered item. Demo mode alone falls back to it, with a warning."""
        if value is None and file is None:
            if not self.demo:
                raise ConfigError(
                    f"set HUB_{name} or HUB_{name}_FILE to verify the gateway's callbacks "
                    f"(HUB_{calling_name} travels with every call: it cannot also vouch for callbacks)"
                )
            log.warning("HUB_%s unset: demo mode verifies callbacks with HUB_%s", name, calling_name)
            return calling()
        key = self._secret(value, file, name, "verify the gateway's callbacks")
        if not self.demo and key == calling():
            raise ConfigError(f"HUB_{name} must differ from HUB_{calling_name}")
        return key

    def result_source_hosts(self) -> frozenset[str]:
        """HUB_RESULTS_SOURCE_HOSTS, or the one-stop's host."""
        named = {h.strip().lower() for h in self.results_source_hosts.split(",") if h.strip()}
        return frozenset(named or {(urlsplit(self.onestop_url).hostname or "").lower()})

    def gateway_url(self, system: str) -> str:
        """HUB_<SYSTEM>_URL of a system the hub sends credentials to (dvcqg, paygov, vnpost); outside demo
        mode only https:// is accepted, so a credential never crosses the network in clear."""
        url: str = getattr(self, f"{system}_url")
        if not self.demo and not url.lower().startswith("https://"):
            raise ConfigError(f"HUB_{system.upper()}_URL must be https:// outside demo mode (it carries credentials)")
        return url

    def api_key_roles(self) -> dict[str, str]:
        """{key: role} from HUB_API_KEYS or HUB_API_KEYS_FILE; a ConfigError names what is wrong."""
        if self.api_keys is not None:
            entries = self.api_keys.get_secret_value().split(",")
        elif self.api_keys_file is not None:
            try:
                entries = self.api_keys_file.read_text(encoding="utf-8").splitlines()
            except OSError as exc:
                raise ConfigError(f"cannot read HUB_API_KEYS_FILE {self.api_keys_file}: {exc}") from exc
        else:
            raise ConfigError("set HUB_API_KEYS or HUB_API_KEYS_FILE (KEY=viewer|operator): no key, no data")
        roles: dict[str, str] = {}
        for number, entry in enumerate(entries, 1):
            entry = entry.split("#", 1)[0].strip()
            if not entry:
                continue
            key, _, role = entry.rpartition("=")
            key = key.strip()
            if role.strip() not in ("viewer", "operator") or len(key) < 16:
                raise ConfigError(f"API key entry {number}: want KEY=viewer|operator with a key of >= 16 characters")
            if _guessable(key):
                raise ConfigError(
                    f"API key entry {number} is guessable (too few different characters for its length): "
                    "make one with `hub keys new`"
                )
            roles[self.refuse_default("API_KEYS", key)] = role.strip()
        if not roles:
            raise ConfigError("no API keys configured")
        return roles

    def identity_key_bytes(self) -> bytes:
        """The identity HMAC key, from the variable or the file; a ConfigError when neither is set."""
        key = self._secret(
            self.identity_key, self.identity_key_file, "IDENTITY_KEY", "protect identity numbers (never stored raw)"
        )
        if len(key) < 16:
            raise ConfigError("the identity key must be at least 16 characters")
        return key.encode("utf-8")
