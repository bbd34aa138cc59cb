"""Visibility from turbidity: the black-disc model with its defaults, and fitting it to shops'
reports. Every expected number is worked out by hand in the comment beside it."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from dashboard.visibility import (
    Conversion,
    Pair,
    VisibilitySettings,
    default_conversion,
    fit,
)
from nemopi.configfile import ConfigError, from_mapping, setting


@dataclass(frozen=True)
class WebTables:
    """The ``[visibility]`` table as the web configuration holds it."""

    visibility: VisibilitySettings = setting(VisibilitySettings(), doc="[visibility]")


DEFAULTS = VisibilitySettings()  # c0 = 0.08 /m, k = 1.0 /m per NTU
BOTH_FROM_3 = VisibilitySettings(min_reports_to_fit_both=3)


@pytest.mark.parametrize(
    ("ntu", "expected_m"),
    [
        (0.0, 60.0),  # 4.8 / 0.08 = 60
        (0.4, 10.0),  # 4.8 / (0.08 + 0.4) = 10
        (1.12, 4.0),  # 4.8 / 1.2 = 4
        (4.72, 1.0),  # 4.8 / 4.8 = 1
        (-0.5, 60.0),  # a sensor offset below zero is clear water, not more than clear
    ],
)
def test_default_conversion_follows_the_black_disc_law(ntu: float, expected_m: float) -> None:
    conversion = default_conversion(DEFAULTS)
    assert conversion.visibility_m(ntu) == pytest.approx(expected_m)
    assert (conversion.source, conversion.reports_used) == ("default", 0)


def test_estimates_are_clamped_to_the_catalogue_range() -> None:
    conversion = Conversion(0.01, 1.0, "fitted", 5, "")
    assert conversion.visibility_m(0.0) == 60.0  # 4.8 / 0.01 = 480, clamped
    assert 0.0 < conversion.visibility_m(4000.0) < 0.01


def pairs(*points: tuple[float, float]) -> list[Pair]:
    return [Pair(ntu, metres) for ntu, metres in points]


# (settings, reports as (NTU, m), c0, k, source, reports used)
FITS = [
    pytest.param(
        DEFAULTS,
        pairs((1.0, 4.8), (2.0, 2.4)),
        0.08,
        1.0,
        "default",
        0,
        id="too-few-reports",
    ),
    pytest.param(
        # c = 4.8/y = 1, 2, 0.5; c - c0 = 0.92, 1.92, 0.42;
        # k = (1*0.92 + 2*1.92 + 0.5*0.42) / (1 + 4 + 0.25) = 4.97 / 5.25 = 71/75
        DEFAULTS,
        pairs((1.0, 4.8), (2.0, 2.4), (0.5, 9.6)),
        0.08,
        71 / 75,
        "fitted",
        3,
        id="k-alone",
    ),
    pytest.param(
        # the same, and a report of 0 m, which cannot be inverted and is left out
        DEFAULTS,
        pairs((1.0, 4.8), (2.0, 2.4), (0.5, 9.6), (3.0, 0.0)),
        0.08,
        71 / 75,
        "fitted",
        3,
        id="zero-metres-left-out",
    ),
    pytest.param(
        # c = 0.2, 0.8, 2.0 at 0, 1, 3 NTU: exactly c = 0.2 + 0.6 NTU
        BOTH_FROM_3,
        pairs((0.0, 24.0), (1.0, 6.0), (3.0, 2.4)),
        0.2,
        0.6,
        "fitted",
        3,
        id="both-exact-line",
    ),
    pytest.param(
        # c = 0.2, 1, 2 at 0, 1, 2 NTU: mean x = 1, mean c = 3.2/3; Sxx = 2,
        # Sxc = (-1)(0.2 - 3.2/3) + (1)(2 - 3.2/3) = 1.8; k = 0.9; c0 = 3.2/3 - 0.9 = 1/6
        BOTH_FROM_3,
        pairs((0.0, 24.0), (1.0, 4.8), (2.0, 2.4)),
        1 / 6,
        0.9,
        "fitted",
        3,
        id="both-least-squares",
    ),
    pytest.param(
        # the same reports with the default threshold of 10 for fitting both: k alone;
        # c - c0 = 0.12, 0.92, 1.92; k = (0 + 0.92 + 3.84) / (0 + 1 + 4) = 0.952
        DEFAULTS,
        pairs((0.0, 24.0), (1.0, 4.8), (2.0, 2.4)),
        0.08,
        0.952,
        "fitted",
        3,
        id="both-needs-more-reports",
    ),
    pytest.param(
        # spread 0.5 NTU < 1 NTU: c0 cannot be told from k; k alone:
        # c = 1, 2, 1 at 1, 1.5, 1 NTU; c - c0 = 0.92, 1.92, 0.92; Sxx = 1 + 2.25 + 1 = 4.25;
        # k = (0.92 + 2.88 + 0.92) / 4.25 = 4.72 / 4.25
        BOTH_FROM_3,
        pairs((1.0, 4.8), (1.5, 2.4), (1.0, 4.8)),
        0.08,
        4.72 / 4.25,
        "fitted",
        3,
        id="both-needs-spread",
    ),
    pytest.param(
        # c falls as turbidity rises (c = 2, 1.5, 1 at 0, 1, 2 NTU): slope -0.5, not physical;
        # k alone: c - c0 = 1.92, 1.42, 0.92; k = (1.42 + 1.84) / 5 = 0.652
        BOTH_FROM_3,
        pairs((0.0, 2.4), (1.0, 3.2), (2.0, 4.8)),
        0.08,
        0.652,
        "fitted",
        3,
        id="both-nonsense-falls-back-to-k",
    ),
    pytest.param(
        # 60 m is clear water: c = 0.08 = c0 whatever the turbidity, so k = 0: rejected
        DEFAULTS,
        pairs((1.0, 60.0), (2.0, 60.0), (3.0, 60.0)),
        0.08,
        1.0,
        "default",
        0,
        id="k-not-positive-keeps-defaults",
    ),
    pytest.param(
        DEFAULTS,
        pairs((0.0, 30.0), (0.0, 20.0), (0.0, 10.0)),
        0.08,
        1.0,
        "default",
        0,
        id="all-at-zero-ntu-keeps-defaults",
    ),
]


@pytest.mark.parametrize(("settings", "reports", "c0", "k", "source", "used"), FITS)
def test_fit(
    settings: VisibilitySettings,
    reports: list[Pair],
    c0: float,
    k: float,
    source: str,
    used: int,
) -> None:
    conversion = fit(settings, reports)
    assert conversion.clear_water_attenuation_per_m == pytest.approx(c0)
    assert conversion.attenuation_per_ntu == pytest.approx(k)
    assert (conversion.source, conversion.reports_used) == (source, used)
    assert conversion.note


def test_a_fitted_conversion_reproduces_the_reports_it_was_fitted_to() -> None:
    conversion = fit(BOTH_FROM_3, pairs((0.0, 24.0), (1.0, 6.0), (3.0, 2.4)))
    assert [conversion.visibility_m(x) for x in (0.0, 1.0, 3.0)] == pytest.approx([24, 6, 2.4])


def test_rejection_says_why() -> None:
    conversion = fit(DEFAULTS, pairs((1.0, 60.0), (2.0, 60.0), (3.0, 60.0)))
    assert "k=0" in conversion.note and "defaults kept" in conversion.note


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ({"attenuation_per_ntu": 0.0}, "visibility.attenuation_per_ntu"),
        ({"clear_water_attenuation_per_m": -0.1}, "visibility.clear_water_attenuation_per_m"),
        ({"min_reports_to_fit": 0}, "visibility.min_reports_to_fit"),
        ({"pairing_window_min": 1}, "visibility.pairing_window_min"),
        ({"min_reports_to_fit": 5, "min_reports_to_fit_both": 4}, "visibility"),
    ],
)
def test_bad_settings_are_refused_naming_the_key(table: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError) as raised:
        from_mapping({"visibility": table}, WebTables, "web.toml")
    assert raised.value.key == key
