"""The layout's promises: import layers held by import-linter, a domain of standard library only, and
tests and benchmarks that share helpers only through tests/support and simulators."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("hub", "connectors", "projections", "simulators")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _imports(path: Path) -> Iterator[tuple[int, str]]:
    """Every module a file imports, absolute, with its line."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module


def _lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def test_the_domain_imports_only_the_standard_library_and_itself() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path in sorted((ROOT / "hub" / "domain").rglob("*.py"))
        for line, name in _imports(path)
        if name.split(".")[0] not in sys.stdlib_module_names and not name.startswith("hub.domain")
    ]
    assert not found, found


def test_tests_share_helpers_only_through_support_and_benchmarks_import_no_test() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for top in ("tests", "bench")
        for path in sorted((ROOT / top).rglob("*.py"))
        for line, name in _imports(path)
        if name.startswith("tests") and (top == "bench" or not name.startswith("tests.support"))
    ]
    assert not found, found


def test_the_import_contracts_hold() -> None:
    done = _lint_imports(ROOT)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        ("hub/domain/events.py", "import hub.cli.main", "hub.domain is not allowed to import hub.cli"),
        ("hub/runtime/policy_loop.py", "import hub.bootstrap", "hub.runtime is not allowed to import hub.bootstrap"),
        ("connectors/paygov/client.py", "import simulators.paygov.simulator", "connectors is not allowed to import"),
    ],
)
def test_a_lower_layer_importing_a_higher_one_breaks_the_contracts(
    tmp_path: Path, module: str, line: str, broken: str
) -> None:
    for name in PACKAGES:
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    with (tmp_path / module).open("a", encoding="utf-8") as f:
        f.write(f"\n{line}  # noqa: E402\n")
    done = _lint_imports(tmp_path)
    assert done.returncode != 0, done.stdout[-2000:]
    assert broken in done.stdout, done.stdout[-3000:]
