"""The QC configuration loader: defaults from the catalogue, overrides per site, a version that
follows the thresholds, and loud errors that name the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from dashboard.qc.config import load_qc_config
from nemopi.catalogue import CATALOGUE, by_name
from nemopi.configfile import ConfigError
from tests.dashboard import qc_series as known

ROOT = Path(__file__).resolve().parents[2]
TEMPERATURE = by_name("water_temperature").code


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "qc.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_come_from_the_catalogue() -> None:
    config = load_qc_config(None)
    for quantity in CATALOGUE:
        thresholds = config.defaults[quantity.code]
        assert thresholds.gross_range_fail == (quantity.valid_min, quantity.valid_max)
        assert thresholds.flat_line_tolerance == 0.5 * 10.0**-quantity.decimals
    assert "flat_line" in config.defaults[TEMPERATURE].tests
    assert "flat_line" not in config.defaults[by_name("solar_power").code].tests


def test_the_commented_example_loads_as_the_defaults() -> None:
    assert load_qc_config(ROOT / "deploy" / "qc.toml").version == load_qc_config(None).version


def test_a_site_override_applies_to_that_buoy_only(tmp_path: Path) -> None:
    config = load_qc_config(
        write(
            tmp_path,
            known.QC_TOML
            + "[sites.reef-02.quantities.water_temperature]\ngross_range_suspect = [22.0, 30.0]\n",
        )
    )
    assert config.thresholds_for("reef-02")[TEMPERATURE].gross_range_suspect == (22.0, 30.0)
    assert config.thresholds_for("reef-02")[TEMPERATURE].spike_fail == 2.0  # from [quantities]
    assert config.thresholds_for("reef-01")[TEMPERATURE].gross_range_suspect == (20.0, 32.0)


def test_the_version_follows_thresholds_not_comments(tmp_path: Path) -> None:
    base = load_qc_config(write(tmp_path, known.QC_TOML)).version
    commented = load_qc_config(write(tmp_path, "# a note\n" + known.QC_TOML)).version
    changed = load_qc_config(
        write(tmp_path, known.QC_TOML.replace("spike_fail = 2.0", "spike_fail = 2.5"))
    ).version
    assert commented == base
    assert changed != base


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        ("max_gap = 60", "max_gap", "unknown key"),
        ("[quantities.ph]\nspike = 1.0", "quantities.ph.spike", "unknown key"),
        ("[quantities.salinity]\nspike_fail = 1.0", "quantities.salinity", "unknown quantity"),
        ('[quantities.ph]\ntests = ["gross_range", "despike"]', "quantities.ph.tests", "despike"),
        ('[quantities.ph]\nspike_fail = "high"', "quantities.ph.spike_fail", "expected a number"),
        (
            "[quantities.ph]\ngross_range_fail = [-1.0, 14.0]",
            "quantities.ph.gross_range_fail",
            "physically possible",
        ),
        (
            "[quantities.ph]\ngross_range_suspect = [6.0, 15.0]",
            "quantities.ph.gross_range_suspect",
            "within the fail span",
        ),
        (
            "[quantities.ph]\ngross_range_suspect = [8.0]",
            "quantities.ph.gross_range_suspect",
            "min < max",
        ),
        (
            "[quantities.ph]\nspike_suspect = 0.5\nspike_fail = 0.2",
            "quantities.ph.spike_fail",
            "at least spike_suspect",
        ),
        (
            "[quantities.ph]\nrate_of_change_suspect = -1.0",
            "quantities.ph.rate_of_change_suspect",
            "positive",
        ),
        ("max_gap_s = 0.0", "max_gap_s", "expected a value in"),
        (
            "[sites.reef-01.quantities.ph]\nflat_line_fail_s = 60.0",
            "sites.reef-01.quantities.ph.flat_line_fail_s",
            "at least flat_line_suspect_s",
        ),
        (
            "[sites.reef-01.quantities.nitrate]\nspike_fail = 1.0",
            "sites.reef-01.quantities.nitrate",
            "unknown quantity",
        ),
    ],
)
def test_what_the_loader_does_not_understand_it_rejects_naming_the_key(
    tmp_path: Path, text: str, key: str, problem: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_qc_config(path)
    assert caught.value.source == str(path)
    assert caught.value.key == key
    assert problem in caught.value.problem
