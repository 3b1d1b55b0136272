"""``hub schemas check``: one incompatible fixture change per kind fails naming the field; compatible ones pass.
Avro's own checker (the Apache implementation) is the oracle for the BACKWARD verdict."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import avro.schema
import pytest
from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType
from click.testing import CliRunner

from hub.cli.main import cli
from hub.log.compat import check_schema_set
from hub.log.schemas import SchemaSet

REPO_SCHEMAS = Path(__file__).parents[2] / "schemas"
Edit = Callable[[Path], None]


def _edit(name: str, change: Callable[[dict[str, Any]], None]) -> Edit:
    def apply(root: Path) -> None:
        path = root / "dossier" / f"vn.motcua.events.{name}.avsc"
        doc = json.loads(path.read_text(encoding="utf-8"))
        change(doc)
        path.write_text(json.dumps(doc), encoding="utf-8")

    return apply


def _field(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return next(f for f in doc["fields"] if f["name"] == name)


def _add_required(doc: dict[str, Any]) -> None:
    doc["fields"].append({"name": "approver", "type": "string"})


def _remove_reason(doc: dict[str, Any]) -> None:
    doc["fields"].remove(_field(doc, "reason"))


def _amount_to_string(doc: dict[str, Any]) -> None:
    _field(doc, "amount_vnd")["type"] = "string"


def _drop_symbol_and_default(doc: dict[str, Any]) -> None:
    del doc["default"]
    doc["symbols"].remove("POSTAL")


def _drop_symbol_keep_default(doc: dict[str, Any]) -> None:
    doc["symbols"].remove("POSTAL")


def _add_optional(doc: dict[str, Any]) -> None:
    doc["fields"].append({"name": "approver", "type": ["null", "string"], "default": None})


def _add_symbol(doc: dict[str, Any]) -> None:
    doc["symbols"].insert(-1, "KIOSK")


def _remove_defaulted(doc: dict[str, Any]) -> None:
    doc["fields"].remove(_field(doc, "documents"))


def _widen_int(doc: dict[str, Any]) -> None:
    _field(doc, "round")["type"] = "long"


def _add_event_type(root: Path) -> None:
    (root / "dossier" / "vn.motcua.events.ResultArchived.avsc").write_text(
        json.dumps(
            {
                "type": "record",
                "name": "ResultArchived",
                "namespace": "vn.motcua.events",
                "fields": [{"name": "result_code", "type": "string"}],
            }
        ),
        encoding="utf-8",
    )
    _edit("DossierEvent", lambda d: _field(d, "payload")["type"].append("ResultArchived"))(root)


INCOMPATIBLE: dict[str, tuple[Edit, str, str]] = {
    "added field without default": (_edit("DossierAccepted", _add_required), "DossierAccepted.approver", "added"),
    "removed field without default": (_edit("DossierRefused", _remove_reason), "DossierRefused.reason", "removed"),
    "changed type": (_edit("Fee", _amount_to_string), "Fee.amount_vnd", "long to string"),
    "removed enum symbol without default": (
        _edit("Channel", _drop_symbol_and_default),
        "DossierSubmitted.channel",
        "POSTAL",
    ),
}
COMPATIBLE: dict[str, Edit] = {
    "added optional field": _edit("DossierAccepted", _add_optional),
    "added enum symbol": _edit("Channel", _add_symbol),
    "removed enum symbol, enum has a default": _edit("Channel", _drop_symbol_keep_default),
    "removed field that had a default": _edit("DossierSubmitted", _remove_defaulted),
    "int widened to long": _edit("SupplementRequested", _widen_int),
    "new event type": _add_event_type,
}


@pytest.fixture
def schema_copy(tmp_path: Path) -> Path:
    root = tmp_path / "schemas"
    shutil.copytree(REPO_SCHEMAS, root)
    return root


def _avro_says_backward(root: Path) -> bool:
    current = SchemaSet(root)
    checker = ReaderWriterCompatibilityChecker()  # type: ignore[no-untyped-call]
    reader = avro.schema.parse(json.dumps(current.current.schema))
    return all(
        checker.get_compatibility(reader, avro.schema.parse(json.dumps(old.schema))).compatibility
        is SchemaCompatibilityType.compatible
        for old in current.history
    )


def test_the_repository_schemas_pass() -> None:
    assert check_schema_set(SchemaSet(REPO_SCHEMAS)) == []


@pytest.mark.parametrize("case", list(INCOMPATIBLE))
def test_incompatible_change_fails_naming_the_field(case: str, schema_copy: Path) -> None:
    edit, path, words = INCOMPATIBLE[case]
    edit(schema_copy)
    problems = check_schema_set(SchemaSet(schema_copy))
    assert problems, case
    assert any(p.path == path and words in p.problem for p in problems), problems
    if case != "removed field without default":  # our stricter rule; Avro's BACKWARD allows removals
        assert not _avro_says_backward(schema_copy)

    result = CliRunner().invoke(cli, ["schemas", "check", "--dir", str(schema_copy)])
    assert result.exit_code != 0
    assert path in result.output


@pytest.mark.parametrize("case", list(COMPATIBLE))
def test_compatible_change_passes(case: str, schema_copy: Path) -> None:
    COMPATIBLE[case](schema_copy)
    assert check_schema_set(SchemaSet(schema_copy)) == []
    if case != "removed enum symbol, enum has a default":  # Apache's checker ignores enum defaults (Avro 1.9+)
        assert _avro_says_backward(schema_copy)
    result = CliRunner().invoke(cli, ["schemas", "check", "--dir", str(schema_copy)])
    assert result.exit_code == 0, result.output
    assert "working copy differs" in result.output


def test_freeze_publishes_a_new_version_that_decoders_then_know(schema_copy: Path) -> None:
    _edit("DossierAccepted", _add_optional)(schema_copy)
    schemas = SchemaSet(schema_copy)
    published = [v.version for v in schemas.history]
    version = schemas.freeze()
    assert version is not None and version.version == (published[-1] or 0) + 1
    reloaded = SchemaSet(schema_copy)
    assert [v.version for v in reloaded.history] == [*published, version.version]
    assert reloaded.current.fingerprint in reloaded.by_fingerprint()
    assert reloaded.freeze() is None
