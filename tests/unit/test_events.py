"""The domain envelope: deterministic ids, immutability, UTC, protected identities, settings."""

from __future__ import annotations

import dataclasses
import inspect
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from hub.domain.events import Event, EventType, new_event, uuid_of_canonical
from hub.domain.identity import mask, protect_identity
from hub.errors import ConfigError
from hub.settings import Settings

AT = datetime(2026, 6, 9, 8, 15, tzinfo=timezone(timedelta(hours=7)))


def _event(ref: str = "HS1/accept", recorded_at: datetime | None = None) -> Event:
    return new_event(
        EventType.DOSSIER_ACCEPTED,
        dossier_code="000.00.20.H56-260609-0001",
        source_system="ONESTOP",
        source_ref=ref,
        occurred_at=AT,
        payload={"due_at": AT},
        recorded_at=recorded_at,
    )


def test_event_id_depends_only_on_source_reference_and_kind() -> None:
    a, b = _event(), _event(recorded_at=datetime(2030, 1, 1, tzinfo=UTC))
    assert a.event_id == b.event_id
    assert _event("HS2/accept").event_id != a.event_id
    assert a.event_id.version == 5


def test_events_are_immutable_and_in_utc() -> None:
    event = _event()
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.dossier_code = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        event.payload["due_at"] = None  # type: ignore[index]
    assert event.occurred_at == datetime(2026, 6, 9, 1, 15, tzinfo=UTC)
    assert event.occurred_at.tzinfo is UTC


def test_naive_times_and_blank_codes_are_refused() -> None:
    with pytest.raises(ValueError, match="time zone"):
        new_event(
            "DossierWithdrawn",
            dossier_code="A-1",
            source_system="ONESTOP",
            source_ref="r",
            occurred_at=datetime(2026, 6, 9),
            payload={},
        )
    with pytest.raises(ValueError, match="dossier_code"):
        new_event(
            "DossierWithdrawn", dossier_code="A 1", source_system="ONESTOP", source_ref="r", occurred_at=AT, payload={}
        )


def test_identity_is_keyed_and_masked() -> None:
    one = protect_identity("001203004567", b"key-one-0123456789")
    assert one.masked == "001*******67"
    assert one.hash == protect_identity(" 001203004567 ", b"key-one-0123456789").hash
    assert one.hash != protect_identity("001203004567", b"key-two-0123456789").hash
    assert "001203004567" not in repr(one)
    assert mask("12345") == "*****"


def test_identity_key_comes_from_env_or_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HUB_IDENTITY_KEY", raising=False)
    monkeypatch.delenv("HUB_IDENTITY_KEY_FILE", raising=False)
    with pytest.raises(ConfigError, match="HUB_IDENTITY_KEY"):
        Settings().identity_key_bytes()
    secret = tmp_path / "key"
    secret.write_text("from-a-mounted-secret-file\n")
    monkeypatch.setenv("HUB_IDENTITY_KEY_FILE", str(secret))
    assert Settings().identity_key_bytes() == b"from-a-mounted-secret-file"
    monkeypatch.setenv("HUB_IDENTITY_KEY", "short")
    with pytest.raises(ConfigError, match="16 characters"):
        Settings().identity_key_bytes()
    assert "short" not in repr(Settings())


def test_settings_read_hub_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_DOSSIER_TOPIC", "prov.dossiers")
    monkeypatch.setenv("HUB_TOPIC_PARTITIONS", "24")
    settings = Settings()
    assert settings.dossier_topic == "prov.dossiers" and settings.topic_partitions == 24


def test_settings_refuse_published_secrets_and_placeholders_outside_demo_mode(tmp_path: Path) -> None:
    from hub.settings import PUBLISHED_TEST_SECRETS
    from simulators.dvcqg.simulator import PortalSimulator
    from simulators.paygov.simulator import PayGovSimulator
    from simulators.vnpost.simulator import VnpostSimulator

    defaults = {
        inspect.signature(PortalSimulator).parameters["client_secret"].default,
        inspect.signature(PayGovSimulator).parameters["secret"].default,
        inspect.signature(VnpostSimulator).parameters["secret"].default,
    }
    assert defaults <= PUBLISHED_TEST_SECRETS, "every simulator's printed secret is known as published"
    placeholder = tmp_path / "secret"
    placeholder.write_text("change-me\n")
    production = Settings(
        demo=False,
        paygov_secret="paygov-test-secret",
        vnpost_secret_file=placeholder,
        dvcqg_client_secret="hub-secret",
        identity_key="change-me-to-32-random-characters",
        api_keys="change-me-viewer-key-0123=viewer",
    )
    for read in (
        production.paygov_secret_value,
        production.vnpost_secret_value,
        production.dvcqg_secret,
        production.identity_key_bytes,
        production.api_key_roles,
    ):
        with pytest.raises(ConfigError, match="published test secret or a placeholder"):
            read()
    demo = production.model_copy(update={"demo": True})
    assert demo.paygov_secret_value() == "paygov-test-secret" and demo.vnpost_secret_value() == "change-me"
    real = Settings(demo=False, paygov_secret="a-real-merchant-secret-9f2c")
    assert real.paygov_secret_value() == "a-real-merchant-secret-9f2c"


def test_trusted_sets_every_field_as_the_checked_constructor_does() -> None:
    # The decoder's unchecked builder names each slot by hand: a swapped pair must not slip through.
    event = new_event(
        EventType.DOSSIER_ACCEPTED,
        dossier_code="G01-T-1",
        source_system="ONESTOP",
        source_ref="ref-1",
        occurred_at=datetime(2026, 3, 1, 2, tzinfo=UTC),
        recorded_at=datetime(2026, 3, 1, 3, tzinfo=UTC),
        payload={"receipt_number": "BN-1"},
        agency_code="G01",
        procedure_code="1.000001",
        correlation_id="corr-1",
        causation_id="cause-1",
    )
    values = [getattr(event, f.name) for f in dataclasses.fields(Event) if f.name != "event_id"]
    values[6] = dict(event.payload)  # the decoder hands over a fresh dict
    trusted = Event.trusted(*values)
    with pytest.raises(AttributeError):
        Event.__dict__["event_id"].slot.__get__(trusted, Event)  # the slot itself: not made until it is read
    assert [getattr(trusted, f.name) for f in dataclasses.fields(Event)] == [
        getattr(event, f.name) for f in dataclasses.fields(Event)
    ]
    with pytest.raises(TypeError):
        trusted.payload["receipt_number"] = "changed"  # type: ignore[index]
    with pytest.raises(AttributeError, match="no attribute 'evnt_id'"):
        getattr(trusted, "evnt_id")  # noqa: B009  # only event_id is made on demand
    assert not hasattr(Event, "__getattr__"), "it would route every attribute read through it (5x slower)"
    fresh = Event.trusted(*values)  # equality, repr and replace read the id before anything else
    assert fresh == event and repr(Event.trusted(*values)) == repr(event)
    assert dataclasses.replace(Event.trusted(*values), causation_id=None).event_id == event.event_id


@given(st.uuids())
def test_a_uuid_made_from_canonical_text_is_the_one_uuid_makes(value: uuid.UUID) -> None:
    made = uuid_of_canonical(str(value))
    assert made == value and hash(made) == hash(value) and str(made) == str(value)
    assert (made.version, made.variant, made.is_safe) == (value.version, value.variant, value.is_safe)


def test_a_placeholder_database_password_is_refused_outside_demo_mode() -> None:
    url = "postgresql+psycopg://hub:change-me@postgres:5432/hub"
    with pytest.raises(ConfigError, match="HUB_DATABASE_URL is a published test secret or a placeholder"):
        Settings(demo=False, database_url=url).database_url_value()
    assert Settings(demo=True, database_url=url).database_url_value() == url
    real = "postgresql+psycopg://hub:Xk2%40p9-long-and-real@postgres:5432/hub"
    assert Settings(demo=False, database_url=real).database_url_value() == real
    assert Settings(demo=False, database_url="sqlite:///var/hub.sqlite3").database_url_value().startswith("sqlite")


def test_callbacks_are_verified_with_their_own_key_and_credentials_travel_over_https() -> None:
    production = Settings(demo=False, paygov_secret="merchant-secret-9f2c1a", vnpost_secret="vnpost-token-7d3e2b")
    for read in (production.paygov_ipn_key_value, production.vnpost_callback_key_value):
        with pytest.raises(ConfigError, match="cannot also vouch for callbacks"):
            read()
    same = production.model_copy(update={"paygov_ipn_key": SecretStr("merchant-secret-9f2c1a")})
    with pytest.raises(ConfigError, match="must differ from HUB_PAYGOV_SECRET"):
        same.paygov_ipn_key_value()
    apart = production.model_copy(update={"vnpost_callback_key": SecretStr("vnpost-callback-key-4a8c")})
    assert apart.vnpost_callback_key_value() == "vnpost-callback-key-4a8c"
    demo = production.model_copy(update={"demo": True})
    assert demo.paygov_ipn_key_value() == "merchant-secret-9f2c1a", "demo mode alone falls back, with a warning"
    for system in ("dvcqg", "paygov", "vnpost"):
        with pytest.raises(ConfigError, match="must be https://"):
            production.gateway_url(system)
        assert demo.gateway_url(system).startswith("http://")
    secure = production.model_copy(update={"paygov_url": "https://paygov.example.gov.vn/"})
    assert secure.gateway_url("paygov") == "https://paygov.example.gov.vn/"
