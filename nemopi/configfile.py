"""One TOML file per process, parsed into frozen dataclasses and validated at start.

A process declares its settings as dataclasses whose fields are made with ``setting()``;
``load()`` reads the file with ``tomllib`` and builds them, or raises ``ConfigError`` naming
the file, the key and what was expected. Unknown keys are errors too: a typo must not pass
silently as "use the default". Every setting carries its documentation, so the docs can be
checked against the code (tests/core/test_config_docs.py).
"""

from __future__ import annotations

import dataclasses
import enum
import tomllib
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
Check = Callable[[Any], str | None]


class ConfigError(ValueError):
    """A configuration file that cannot be used. The message names the file and the key."""

    def __init__(self, source: str, key: str, problem: str) -> None:
        super().__init__(f"{source}: {key}: {problem}" if key else f"{source}: {problem}")
        self.source = source
        self.key = key
        self.problem = problem


def setting(default: Any = dataclasses.MISSING, *, doc: str, check: Check | None = None) -> Any:
    """A dataclass field that is a documented setting; ``check`` returns an error or None."""
    metadata = {"doc": doc, "check": check}
    if isinstance(default, list | dict):
        raise TypeError("use a tuple for sequence defaults: settings are immutable")
    return dataclasses.field(default=default, metadata=metadata)


def in_range(low: float | None = None, high: float | None = None) -> Check:
    def check(value: Any) -> str | None:
        if (low is not None and value < low) or (high is not None and value > high):
            return f"expected a value in [{low}, {high}], got {value!r}"
        return None

    return check


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _log_level_check(value: str) -> str | None:
    return None if value.upper() in LOG_LEVELS else f"expected one of {', '.join(LOG_LEVELS)}"


def log_level_setting() -> Any:
    """The ``log_level`` setting every process has, with one check and one doc."""
    return setting(
        "INFO", doc=f"Logging level: one of {', '.join(LOG_LEVELS)}.", check=_log_level_check
    )


def load(path: str | Path, schema: type[T]) -> T:
    """Read and validate ``path`` against the dataclass ``schema``."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(str(path), "", "file not found") from None
    except OSError as exc:
        raise ConfigError(str(path), "", f"cannot be read ({exc.strerror})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), "", f"not valid TOML ({exc})") from None
    return from_mapping(data, schema, str(path))


def from_mapping(data: dict[str, Any], schema: type[T], source: str) -> T:
    """Build ``schema`` from already-parsed TOML data (also used for remote config updates)."""
    return _build(schema, data, source, "")  # type: ignore[no-any-return]


def _build(schema: type, data: Any, source: str, prefix: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(source, prefix, f"expected a table, got {_describe(data)}")
    hints = typing.get_type_hints(schema)
    fields = {f.name: f for f in dataclasses.fields(schema)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(
            source, _join(prefix, unknown[0]), f"unknown key (known: {', '.join(sorted(fields))})"
        )
    kwargs: dict[str, Any] = {}
    for name, f in fields.items():
        key = _join(prefix, name)
        if name not in data:
            no_default = (
                f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
            )
            if no_default:
                raise ConfigError(source, key, "missing required key")
            continue
        value = _convert(hints[name], data[name], source, key)
        check = f.metadata.get("check")
        problem = check(value) if check else None
        if problem:
            raise ConfigError(source, key, problem)
        kwargs[name] = value
    try:
        return schema(**kwargs)
    except ValueError as exc:  # cross-field rules in __post_init__
        raise ConfigError(source, prefix or "(top level)", str(exc)) from None


def _convert(hint: Any, value: Any, source: str, key: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        return _convert(inner[0], value, source, key)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, source, key)  # type: ignore[arg-type]
    if origin is tuple:
        if not isinstance(value, list):
            raise ConfigError(source, key, f"expected an array, got {_describe(value)}")
        return tuple(_convert(args[0], v, source, f"{key}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(source, key, f"expected a table, got {_describe(value)}")
        return types.MappingProxyType(
            {k: _convert(args[1], v, source, _join(key, k)) for k, v in value.items()}
        )
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        choices = [m.value for m in hint]
        if value not in choices:
            raise ConfigError(source, key, f"expected one of {choices}, got {value!r}")
        return hint(value)
    if hint is Path:
        return Path(_expect(str, value, source, key, "a string (path)"))
    if hint is float:
        if type(value) not in (int, float):
            raise ConfigError(source, key, f"expected a number, got {_describe(value)}")
        return float(value)
    names = {bool: "true or false", int: "an integer", str: "a string"}
    return _expect(hint, value, source, key, names.get(hint, str(hint)))


def _expect(kind: type, value: Any, source: str, key: str, expected: str) -> Any:
    if type(value) is not kind:
        raise ConfigError(source, key, f"expected {expected}, got {_describe(value)}")
    return value


def _describe(value: Any) -> str:
    names = {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "an array",
        dict: "a table",
    }
    return f"{names.get(type(value), type(value).__name__)} {value!r}"[:80]


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def documented_keys(schema: type, prefix: str = "") -> dict[str, str]:
    """Every setting's dotted key and its doc text (for the docs-versus-code test)."""
    keys: dict[str, str] = {}
    hints = typing.get_type_hints(schema)
    for f in dataclasses.fields(schema):
        key = _join(prefix, f.name)
        hint = hints[f.name]
        inner = [a for a in typing.get_args(hint) if dataclasses.is_dataclass(a)]
        target = hint if dataclasses.is_dataclass(hint) else (inner[0] if inner else None)
        if target is not None:
            keys.update(documented_keys(target, key))  # type: ignore[arg-type]
        else:
            keys[key] = f.metadata.get("doc", "")
    return keys
