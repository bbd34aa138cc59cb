"""TOML configuration: valid files build frozen dataclasses, every mistake names file and key."""

from __future__ import annotations

import dataclasses
import textwrap
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import pytest

from nemopi.broker_settings import MqttSettings
from nemopi.configfile import ConfigError, documented_keys, in_range, load, setting


class Backend(StrEnum):
    SQLITE = "sqlite"
    POSTGRES = "postgres"


@dataclass(frozen=True)
class Sensor:
    name: str = setting(doc="Sensor name.")
    address: int = setting(0x63, doc="I2C address.", check=in_range(0x03, 0x77))


@dataclass(frozen=True)
class Storage:
    backend: Backend = setting(Backend.SQLITE, doc="Database backend.")
    path: Path = setting(Path("nemopi.db"), doc="Database file.")
    pool: int | None = setting(None, doc="Connection pool size.")


@dataclass(frozen=True)
class Settings:
    buoy: str = setting(doc="Buoy id.")
    interval_s: float = setting(60.0, doc="Sampling interval.", check=in_range(1, 3600))
    debug: bool = setting(False, doc="Verbose logging.")
    storage: Storage = setting(Storage(), doc="Storage table.")
    sensors: tuple[Sensor, ...] = setting((), doc="Attached sensors.")
    offsets: dict[str, float] | None = setting(None, doc="Per-quantity offsets.")
    window: tuple[int, ...] = setting((), doc="Hours of the day to sample.")

    def __post_init__(self) -> None:
        if self.debug and self.interval_s < 10:
            raise ValueError("debug logging needs interval_s of 10 s or more")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "buoy.toml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_full_file_builds_nested_frozen_settings(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        buoy = "reef-01"
        interval_s = 30
        window = [6, 7, 8]
        [storage]
        backend = "postgres"
        path = "/var/lib/nemopi/db"
        pool = 4
        [offsets]
        ph = 0.02
        [[sensors]]
        name = "ezo-ph"
        [[sensors]]
        name = "scd41"
        address = 0x62
        """,
    )
    s = load(path, Settings)
    assert s.buoy == "reef-01"
    assert s.interval_s == 30.0 and type(s.interval_s) is float
    assert s.window == (6, 7, 8)
    assert s.storage == Storage(Backend.POSTGRES, Path("/var/lib/nemopi/db"), 4)
    assert s.sensors == (Sensor("ezo-ph", 0x63), Sensor("scd41", 0x62))
    assert s.offsets is not None and dict(s.offsets) == {"ph": 0.02}
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.buoy = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        s.offsets["ph"] = 1.0  # type: ignore[index]


def test_defaults_fill_what_the_file_leaves_out(tmp_path: Path) -> None:
    s = load(write(tmp_path, 'buoy = "b"\n'), Settings)
    assert s == Settings(buoy="b")


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        ("interval_s = 5", "buoy", "missing required key"),
        ("buoy = 7", "buoy", "expected a string, got an integer 7"),
        ('buoy = "b"\ninterval_s = "fast"', "interval_s", "expected a number"),
        ('buoy = "b"\ndebug = 1', "debug", "expected true or false"),
        ('buoy = "b"\nintervl_s = 5', "intervl_s", "unknown key"),
        ('buoy = "b"\n[storage]\nbackend = "mysql"', "storage.backend", "expected one of"),
        ('buoy = "b"\n[storage]\npool = 1.5', "storage.pool", "expected an integer"),
        ('buoy = "b"\n[storage]\nsize = 1', "storage.size", "unknown key"),
        ('buoy = "b"\nstorage = 3', "storage", "expected a table"),
        ('buoy = "b"\ninterval_s = 0.5', "interval_s", "expected a value in [1, 3600]"),
        ('buoy = "b"\n[[sensors]]\naddress = 1', "sensors[0].name", "missing required key"),
        (
            'buoy = "b"\n[[sensors]]\nname = "a"\n[[sensors]]\nname = "b"\naddress = 200',
            "sensors[1].address",
            "expected a value in",
        ),
        ('buoy = "b"\nsensors = "ezo"', "sensors", "expected an array"),
        ('buoy = "b"\nwindow = [6, "7"]', "window[1]", "expected an integer"),
        ('buoy = "b"\n[offsets]\nph = "x"', "offsets.ph", "expected a number"),
        ('buoy = "b"\ndebug = true\ninterval_s = 5', "(top level)", "debug logging needs"),
    ],
)
def test_each_mistake_names_file_and_dotted_key(
    tmp_path: Path, text: str, key: str, problem: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load(path, Settings)
    assert caught.value.source == str(path)
    assert caught.value.key == key
    assert problem in caught.value.problem
    assert str(caught.value).startswith(f"{path}: {key}: ")


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b'buoy = "unterminated\n', "not valid TOML"),
        (b"buoy = \xff\n", "not valid TOML"),
        (None, "file not found"),
    ],
    ids=["bad TOML", "not UTF-8", "missing file"],
)
def test_unreadable_file_is_a_config_error_naming_the_file(
    tmp_path: Path, content: bytes | None, problem: str
) -> None:
    path = tmp_path / "buoy.toml"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ConfigError, match=rf"^{path}: {problem}"):
        load(path, Settings)


def test_a_directory_instead_of_a_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=rf"^{tmp_path}: cannot be read"):
        load(tmp_path, Settings)


def test_sequence_defaults_must_be_immutable() -> None:
    with pytest.raises(TypeError, match="tuple"):
        setting([], doc="A list default.")


def test_documented_keys_lists_every_leaf_setting_with_its_doc() -> None:
    keys = documented_keys(Settings)
    assert keys == {
        "buoy": "Buoy id.",
        "interval_s": "Sampling interval.",
        "debug": "Verbose logging.",
        "storage.backend": "Database backend.",
        "storage.path": "Database file.",
        "storage.pool": "Connection pool size.",
        "sensors.name": "Sensor name.",
        "sensors.address": "I2C address.",
        "offsets": "Per-quantity offsets.",
        "window": "Hours of the day to sample.",
    }


def test_a_password_file_without_a_user_name_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "mqtt.toml"
    config.write_text('password_file = "/etc/nemopi/secret"\n')
    with pytest.raises(ConfigError, match=r"mqtt\.username is empty"):
        load(config, MqttSettings)


def test_an_unreadable_password_file_names_the_setting(tmp_path: Path) -> None:
    settings = MqttSettings(username="reef-a", password_file=tmp_path / "missing")
    with pytest.raises(ConfigError, match=r"mqtt\.password_file: cannot be read"):
        settings.password()
