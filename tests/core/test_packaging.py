"""The buoy's install stays small enough for a Pi Zero: checked from the resolved metadata."""

from __future__ import annotations

import re
from importlib.metadata import requires

from packaging.requirements import Requirement

HEAVY_FOR_A_PI_ZERO = {"numpy", "pandas", "flask", "scipy", "sqlalchemy", "werkzeug"}


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _closure(extra: str) -> set[str]:
    """Every distribution that ``pip install nemopi[extra]`` pulls in, transitively."""
    seen: set[str] = set()
    pending: list[tuple[str, set[str]]] = [("nemopi", {extra})]
    while pending:
        name, extras = pending.pop()
        for line in requires(name) or []:
            req = Requirement(line)
            env_ok = req.marker is None or any(
                req.marker.evaluate({"extra": e}) for e in (extras or {""})
            )
            if not env_ok:
                continue
            dep = _normalise(req.name)
            if dep == "nemopi":
                pending.append(("nemopi", set(req.extras)))
                continue
            if dep not in seen:
                seen.add(dep)
                pending.append((dep, set(req.extras)))
    return seen


def test_buoy_install_pulls_no_numpy_pandas_or_flask() -> None:
    buoy = _closure("buoy")
    assert "paho-mqtt" in buoy and "smbus2" in buoy
    assert not buoy & HEAVY_FOR_A_PI_ZERO, buoy & HEAVY_FOR_A_PI_ZERO


def test_dashboard_install_brings_the_web_stack() -> None:
    assert {"flask", "sqlalchemy", "alembic"} <= _closure("dashboard")
