"""Writes docs/configuration.md from the settings the loaders accept.

The reference is generated from the dataclasses, never edited by hand, so it cannot drift from
the code: tests/core/test_config_docs.py fails when the file differs from what ``render()``
returns now. Run ``python scripts/config_docs.py`` after adding or changing a setting. The
example error messages are produced by loading bad files, so they show what a user really sees.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import sys
import tempfile
import types
import typing
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from buoy.config import load_buoy_config
from dashboard.config import load_ingest_config, load_web_config
from nemopi.configfile import ConfigError

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "docs" / "configuration.md"
EXAMPLES_DIR = ROOT / "deploy" / "config"
REGENERATE = "python scripts/config_docs.py"
# Where deploy/systemd/ puts the files; used to show error messages as a deployment sees them.
DEPLOYED_DIR = "/etc/nemopi"

SIMPLE_TYPES: Mapping[Any, str] = {
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    Path: "path",
}


@dataclass(frozen=True)
class Process:
    """One process, its TOML file and the loader that validates it at start."""

    name: str
    title: str
    command: str
    summary: str
    loader: Callable[[Path], object]

    @property
    def schema(self) -> type:
        """The dataclass the loader returns, read from its annotation so the two cannot differ."""
        schema: type = typing.get_type_hints(self.loader)["return"]
        return schema

    @property
    def file_name(self) -> str:
        return f"{self.name}.toml"

    @property
    def example(self) -> Path:
        return EXAMPLES_DIR / self.file_name


PROCESSES = (
    Process(
        name="buoy",
        title="Buoy",
        command="nemopi buoy run --config buoy.toml [--simulate]",
        summary="The firmware daemon on the Raspberry Pi: samples the sensors, keeps every "
        "reading in an SQLite outbox under `data_dir` and publishes batches to the broker "
        "until the ingest confirms them. With `--simulate` the real drivers talk to emulated "
        "devices on the reef described by `[simulation]` instead of the hardware.",
        loader=load_buoy_config,
    ),
    Process(
        name="ingest",
        title="Ingest",
        command="nemopi ingest --config ingest.toml",
        summary="Runs on the server: subscribes to every buoy's data, stores each reading once "
        "in the database and confirms what it stored back to the buoy.",
        loader=load_ingest_config,
    ),
    Process(
        name="web",
        title="Web dashboard",
        command="nemopi web --config web.toml",
        summary="Runs on the server behind a reverse proxy with TLS: serves the public "
        "dashboard and its JSON API from the database the ingest writes.",
        loader=load_web_config,
    ),
)

# Bad buoy files whose errors the intro shows: a typo, and a value out of range.
BAD_EXAMPLES = (
    ("mqtt.prot", 'buoy_id = "reef-01"\ndata_dir = "/var/lib/nemopi"\n\n[mqtt]\nprot = 8883\n'),
    ("mqtt.port", 'buoy_id = "reef-01"\ndata_dir = "/var/lib/nemopi"\n\n[mqtt]\nport = 88830\n'),
)


@dataclass(frozen=True)
class Row:
    key: str  # dotted, as nemopi.configfile.documented_keys names it
    type: str
    default: str
    doc: str


@dataclass(frozen=True)
class Table:
    header: str  # "" for the top level, else "[mqtt]" or "[[hardware.sensors]]"
    doc: str
    presence: str
    rows: tuple[Row, ...]


def _unwrap_optional(hint: Any) -> Any:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return next(a for a in typing.get_args(hint) if a is not type(None))
    return hint


def _table_of(hint: Any) -> tuple[type, bool] | None:
    """The dataclass a field holds as a TOML table, and whether it is an array of tables."""
    inner = _unwrap_optional(hint)
    if dataclasses.is_dataclass(inner):
        return inner, False  # type: ignore[return-value]
    args = typing.get_args(inner)
    if typing.get_origin(inner) is tuple and args and dataclasses.is_dataclass(args[0]):
        return args[0], True
    return None


def _type_name(hint: Any, key: str) -> str:
    inner = _unwrap_optional(hint)
    if inner in SIMPLE_TYPES:
        return SIMPLE_TYPES[inner]
    if isinstance(inner, type) and issubclass(inner, enum.Enum):
        return "one of " + ", ".join(f"`{_toml(m)}`" for m in inner)
    args = typing.get_args(inner)
    if typing.get_origin(inner) in (tuple, dict):
        # tuple[int, ...] names its items first, dict[str, int] its values second
        kind, item = ("array", args[0]) if typing.get_origin(inner) is tuple else ("table", args[1])
        name = _type_name(item, key)
        return f"{kind} of {name}s" if item in SIMPLE_TYPES else f"{kind}, each {name}"
    raise TypeError(f"{key}: no documentation rule for the type {hint!r}")


def _toml(value: Any) -> str:
    """``value`` written as in a TOML file."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, enum.Enum):
        return _toml(value.value)
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    return json.dumps(str(value))  # a TOML basic string: JSON escapes are valid TOML escapes


def _default(field: dataclasses.Field[Any]) -> str:
    if field.default is not dataclasses.MISSING:
        return "not set" if field.default is None else f"`{_toml(field.default)}`"
    return "**required**"


def _presence(field: dataclasses.Field[Any], array: bool) -> str:
    if array:
        return "Repeat the table once per item."
    if field.default is dataclasses.MISSING:
        return "This table is required."
    if field.default is None:
        return "Optional: absent unless the file has it."
    return "May be left out: every key then takes its default."


def tables(
    schema: type, key: str = "", doc: str = "", presence: str = "", array: bool = False
) -> Iterator[Table]:
    """The settings of ``schema`` as TOML tables: this level's keys first, then nested tables."""
    hints = typing.get_type_hints(schema)
    rows: list[Row] = []
    nested: list[tuple[str, dataclasses.Field[Any], type, bool]] = []
    for field in dataclasses.fields(schema):
        dotted = f"{key}.{field.name}" if key else field.name
        table = _table_of(hints[field.name])
        if table is None:
            type_name = _type_name(hints[field.name], dotted)
            rows.append(Row(dotted, type_name, _default(field), field.metadata.get("doc", "")))
        else:
            nested.append((dotted, field, *table))
    header = "" if not key else f"[[{key}]]" if array else f"[{key}]"
    yield Table(header, doc, presence, tuple(rows))
    for dotted, field, child, child_array in nested:
        child_doc = field.metadata.get("doc", "")
        yield from tables(child, dotted, child_doc, _presence(field, child_array), child_array)


def _cell(text: str) -> str:
    """Doc text made safe for a Markdown table cell (``<prefix>`` must not vanish as HTML)."""
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def _render_table(table: Table) -> str:
    lines = [f"### `{table.header}`" if table.header else "### Top level", ""]
    if table.header:
        lines += [f"{table.doc} {table.presence}".strip(), ""]
    if not table.rows:
        return "\n".join(lines)
    lines += ["| Key | Type | Default | Meaning |", "|---|---|---|---|"]
    for row in table.rows:
        name = row.key.rsplit(".", 1)[-1]
        lines.append(f"| `{name}` | {row.type} | {row.default} | {_cell(row.doc)} |")
    return "\n".join(lines) + "\n"


def _render_process(process: Process) -> str:
    parts = [
        f"## {process.title}: `{process.file_name}`\n",
        f"```sh\n{process.command}\n```\n",
        f"{process.summary} In a deployment, `deploy/systemd/nemopi-{process.name}.service` "
        f"runs it with `{DEPLOYED_DIR}/{process.file_name}`; "
        f"`deploy/config/{process.file_name}` is a commented example.\n",
    ]
    parts += [_render_table(t) for t in tables(process.schema)]
    return "\n".join(parts)


def _error_for(bad_toml: str, expected_key: str) -> str:
    """The message ``nemopi buoy run`` gives for ``bad_toml`` in /etc/nemopi/buoy.toml."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "buoy.toml"
        path.write_text(bad_toml, encoding="utf-8")
        try:
            load_buoy_config(path)
        except ConfigError as exc:
            if exc.key != expected_key:
                raise RuntimeError(f"expected an error at {expected_key}, got: {exc}") from exc
            return str(exc).replace(tmp, DEPLOYED_DIR, 1)
    raise RuntimeError(f"a bad example loaded without error:\n{bad_toml}")


def _render_intro() -> str:
    examples = "\n".join(
        f"```toml\n{bad}```\n\nstops the buoy with\n\n```text\n{_error_for(bad, key)}\n```\n"
        for key, bad in BAD_EXAMPLES
    )
    return f"""# Configuration

<!-- Generated by scripts/config_docs.py from the settings in the code. Do not edit: change
the setting's doc text in the code and run `{REGENERATE}`. -->

Every nemopi process reads exactly one TOML file, named with `--config`. The file is read and
checked completely when the process starts, before it touches a sensor, the broker or the
database; a file that cannot be used stops the process with exit status 2 and a message that
names the file, the key and what was expected. Unknown keys are errors too: a misspelt key
never passes silently as "use the default". For example, this `{DEPLOYED_DIR}/buoy.toml`

{examples}
Secrets are never written in a configuration file, so the files can be shown, copied and kept
in version control. Settings ending in `_file` (`password_file`, `secret_key_file`) name a
file that holds the secret; make it readable by the `nemopi` user only (`chmod 600`). A
PostgreSQL password belongs in the `nemopi` user's `~/.pgpass`, not in the database URL. The
check does not open these files: the process reads them next, when it sets up its broker
connection or the web app.

Paths are used as written: a relative path is taken from the working directory of the process
(`/` under systemd), not from the folder of the configuration file, so deployments use
absolute paths. Commented examples for a deployment are in `deploy/config/`.

In the tables, *Default* is the value used when the key is left out; **required** keys have
none, and "not set" means the feature is off unless the key is given. A table's keys are
written under its header (`[mqtt]`); the top-level keys come before the first header.
"""


def render() -> str:
    """The whole of docs/configuration.md as the code defines it now."""
    return "\n".join([_render_intro(), *(_render_process(p) for p in PROCESSES)])


def main() -> int:
    OUTPUT.write_text(render(), encoding="utf-8")
    sys.stdout.write(f"wrote {OUTPUT.relative_to(ROOT)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
