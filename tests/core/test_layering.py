"""The dependency rules of DESIGN.md, checked on the source so no change can quietly break them.

- ``sensors`` knows hardware and nothing else: it never imports ``buoy`` or ``dashboard``.
- ``buoy`` never imports ``dashboard``.
- ``dashboard`` imports the shared core (``nemopi``) and nothing of ``buoy`` or ``sensors``.
- the pure contracts in ``nemopi`` import no I/O framework (paho, Flask, SQLAlchemy) and none
  of the three packages; only the CLI and the demo tie the processes together.
- the dashboard's decisions (dive verdict, heat stress) are pure as well.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ORCHESTRATION = {"cli.py", "demo.py", "demo_configs.py", "processes.py", "embedded_broker.py"}
IO_FRAMEWORKS = {"paho", "flask", "sqlalchemy", "alembic", "amqtt", "werkzeug", "waitress"}

FORBIDDEN = {
    "sensors": {"buoy", "dashboard"},
    "buoy": {"dashboard"},
    "dashboard": {"buoy", "sensors"},
}


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def sources(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_respects_the_layering(package: str) -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(imported_roots(path) & FORBIDDEN[package])
        for path in sources(package)
        if imported_roots(path) & FORBIDDEN[package]
    }
    assert not offenders


def test_core_contracts_are_pure() -> None:
    offenders = {
        path.name: sorted(imported_roots(path) & (IO_FRAMEWORKS | set(FORBIDDEN)))
        for path in sources("nemopi")
        if path.name not in ORCHESTRATION
        and imported_roots(path) & (IO_FRAMEWORKS | set(FORBIDDEN))
    }
    assert not offenders


PURE_DECISIONS = ("dashboard/verdict.py", "dashboard/verdict_rules.py", "dashboard/heat_stress.py")


@pytest.mark.parametrize("module", PURE_DECISIONS)
def test_decision_modules_are_pure(module: str) -> None:
    assert not imported_roots(ROOT / module) & (IO_FRAMEWORKS | {"buoy", "sensors"})


def test_the_checker_sees_a_forbidden_import(tmp_path: Path) -> None:
    module = tmp_path / "bad.py"
    module.write_text("from dashboard.app import create_app\nimport paho.mqtt.client\n")
    assert imported_roots(module) == {"dashboard", "paho"}
