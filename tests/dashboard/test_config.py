"""The two config files: defaults, documentation and errors that name the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from dashboard.config import IngestConfig, WebConfig, load_ingest_config, load_web_config
from nemopi.configfile import ConfigError, documented_keys


@pytest.mark.parametrize("schema", [IngestConfig, WebConfig])
def test_every_setting_is_documented(schema: type) -> None:
    undocumented = [key for key, doc in documented_keys(schema).items() if not doc.strip()]
    assert undocumented == []


def test_empty_files_give_the_documented_defaults(tmp_path: Path) -> None:
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    ingest, web = load_ingest_config(empty), load_web_config(empty)
    assert ingest.database.url == web.database.url == "sqlite:///data/nemopi.sqlite3"
    assert (ingest.client_id, ingest.mqtt.prefix, ingest.mqtt.port) == (
        "nemopi-ingest",
        "nemopi",
        1883,
    )
    assert (web.host, web.port, web.secret_key_file) == ("127.0.0.1", 8080, None)


def test_a_full_ingest_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "ingest.toml"
    path.write_text(
        'client_id = "ingest-2"\nlog_level = "DEBUG"\n'
        '[database]\nurl = "postgresql+psycopg://nemopi@db/nemopi"\n'
        '[mqtt]\nhost = "broker"\nport = 8883\nprefix = "reefs/north"\n'
    )
    config = load_ingest_config(path)
    assert (config.client_id, config.log_level) == ("ingest-2", "DEBUG")
    assert config.database.url == "postgresql+psycopg://nemopi@db/nemopi"
    assert (config.mqtt.host, config.mqtt.port, config.mqtt.prefix) == (
        "broker",
        8883,
        "reefs/north",
    )


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('[database]\nurl = "mysql://x"\n', "database.url"),
        ('client_id = "has space"\n', "client_id"),
        ("[mqtt]\nport = 0\n", "mqtt.port"),
        ('colour = "blue"\n', "colour"),
    ],
)
def test_bad_ingest_settings_name_the_file_and_key(tmp_path: Path, text: str, key: str) -> None:
    path = tmp_path / "ingest.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_ingest_config(path)
    assert (caught.value.source, caught.value.key) == (str(path), key)


def test_secret_key_comes_from_its_file_or_is_generated(tmp_path: Path) -> None:
    key_file = tmp_path / "secret"
    key_file.write_text("k" * 40 + "\n")
    path = tmp_path / "web.toml"
    path.write_text(f'secret_key_file = "{key_file}"\n')
    assert load_web_config(path).secret_key() == "k" * 40
    generated = WebConfig()
    assert len(generated.secret_key()) >= 32
    assert generated.secret_key() != generated.secret_key()
    key_file.write_text("short")
    with pytest.raises(ValueError, match="32"):
        load_web_config(path).secret_key()
