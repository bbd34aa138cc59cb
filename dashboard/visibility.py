"""Horizontal visibility from turbidity, and how dive shops' reports calibrate it per reef.

Dive operators ask "how far will we see?", but the buoy measures turbidity (NTU). The bridge is
the optics of seeing a dark object sideways through water. The contrast of a black target
fades as ``exp(-c r)`` with range ``r``, where ``c`` is the beam attenuation coefficient (per
metre); the eye loses it at a contrast of about 1 %, so the horizontal sighting range of a
black disc is ``y = 4.8 / c`` (Davies-Colley 1988, Limnology and Oceanography 33:616; Zaneveld
and Pegau 2003, Optics Express 11:2997, who showed it is the robust visibility parameter
underwater). A diver looking across a reef sees much as a black disc is seen, so ``y`` is what
this module calls visibility.

Turbidity is light scattered by particles, and particles are most of what attenuates a beam in
reef water, so ``c = c0 + k * NTU``: ``c0`` is the attenuation of particle-free sea water and
``k`` how much attenuation one NTU of this reef's particles adds. ``c0`` is well known; ``k``
is not (it depends on particle size and colour and on the turbidity sensor), and the default
is an assumption that operators' reports replace (see ``fit``). Estimates are clamped to the
catalogue's 0..60 m.

Pure: numbers in, numbers out; no database, no web.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

from nemopi.catalogue import by_name
from nemopi.configfile import in_range, setting

log = logging.getLogger(__name__)

BLACK_DISC_CONSTANT = 4.8  # y = 4.8 / c (Davies-Colley 1988)
_VISIBILITY = by_name("visibility")
MAX_VISIBILITY_M = _VISIBILITY.valid_max
MIN_VISIBILITY_M = _VISIBILITY.valid_min


def _positive(value: float) -> str | None:
    return None if value > 0 and math.isfinite(value) else f"expected more than 0, got {value!r}"


@dataclass(frozen=True)
class VisibilitySettings:
    """The web configuration's ``[visibility]`` table: the model's defaults and how reports
    are used to fit it per reef."""

    clear_water_attenuation_per_m: float = setting(
        0.08,
        doc=(
            "c0, the beam attenuation of particle-free sea water (1/m). Pure sea water "
            "attenuates about 0.05/m in green light (absorption after Pope and Fry 1997, "
            "scattering after Morel 1974); 0.08 also allows for dissolved matter and puts the "
            "clearest estimate at 4.8/0.08 = 60 m, the catalogue's limit."
        ),
        check=_positive,
    )
    attenuation_per_ntu: float = setting(
        1.0,
        doc=(
            "k, the beam attenuation one NTU of turbidity adds (1/m per NTU). An assumption: "
            "it depends on the reef's particles and the sensor, so shops' reports replace it "
            "per reef once there are enough of them."
        ),
        check=_positive,
    )
    min_reports_to_fit: int = setting(
        3,
        doc="Reports (paired with turbidity) a reef needs before k is fitted to them.",
        check=in_range(1, None),
    )
    min_reports_to_fit_both: int = setting(
        10,
        doc=(
            "Reports a reef needs before c0 is fitted too (and the turbidity spread below); "
            "with fewer, c0 keeps its default and only k is fitted."
        ),
        check=in_range(2, None),
    )
    min_turbidity_spread_ntu: float = setting(
        1.0,
        doc=(
            "Fitting c0 needs reports made at turbidities at least this far apart (NTU): "
            "a line through a cluster of points says nothing about where it meets zero."
        ),
        check=_positive,
    )
    pairing_window_min: int = setting(
        30,
        doc=(
            "A report is paired with the buoy's mean turbidity of the 10-minute buckets within "
            "this many minutes of the time the divers saw it; without any it is not used."
        ),
        check=in_range(5, 24 * 60),
    )
    report_days: int = setting(
        90,
        doc=(
            "Only reports from the last this many days calibrate a reef: the water and its "
            "particles change with the seasons."
        ),
        check=in_range(1, 3650),
    )

    def __post_init__(self) -> None:
        if self.min_reports_to_fit_both < self.min_reports_to_fit:
            raise ValueError("min_reports_to_fit_both must not be below min_reports_to_fit")


@dataclass(frozen=True)
class Conversion:
    """``c = clear_water_attenuation_per_m + attenuation_per_ntu * NTU``, ``y = 4.8 / c``.

    ``source`` says whether the coefficients are the configured defaults or were fitted to
    ``reports_used`` reports; ``note`` says why, in words a person can check.
    """

    clear_water_attenuation_per_m: float
    attenuation_per_ntu: float
    source: str  # "default" | "fitted"
    reports_used: int
    note: str

    def visibility_m(self, turbidity_ntu: float) -> float:
        """Estimated horizontal visibility (m) at ``turbidity_ntu``, clamped to 0..60 m."""
        attenuation = self.clear_water_attenuation_per_m + self.attenuation_per_ntu * max(
            turbidity_ntu, 0
        )
        return min(max(BLACK_DISC_CONSTANT / attenuation, MIN_VISIBILITY_M), MAX_VISIBILITY_M)


@dataclass(frozen=True)
class Pair:
    """A shop's report and the buoy's turbidity when the divers saw it."""

    turbidity_ntu: float
    visibility_m: float


def default_conversion(settings: VisibilitySettings, note: str = "no reports") -> Conversion:
    return Conversion(
        settings.clear_water_attenuation_per_m, settings.attenuation_per_ntu, "default", 0, note
    )


def fit(settings: VisibilitySettings, pairs: Sequence[Pair]) -> Conversion:
    """The conversion that best explains ``pairs``, or the defaults with the reason why not.

    Each report gives an attenuation ``4.8 / y``; the model is linear in NTU, so both fits are
    ordinary least squares on ``(NTU, 4.8 / y)``. A report of 0 m says nothing about how much
    less than that (``4.8 / 0`` has no value) and is left out.
    """
    usable = [p for p in pairs if p.visibility_m > 0]
    if len(usable) < settings.min_reports_to_fit:
        return default_conversion(
            settings, f"{len(usable)} usable reports; {settings.min_reports_to_fit} needed to fit"
        )
    xs = [p.turbidity_ntu for p in usable]
    attenuations = [BLACK_DISC_CONSTANT / p.visibility_m for p in usable]
    if (
        len(usable) >= settings.min_reports_to_fit_both
        and max(xs) - min(xs) >= settings.min_turbidity_spread_ntu
    ):
        both = _fit_both(xs, attenuations, len(usable))
        if both is not None:
            return both
    return _fit_k(settings, xs, attenuations)


def _fit_both(xs: list[float], attenuations: list[float], n: int) -> Conversion | None:
    """Least squares of ``c = c0 + k x``; None when the line is nonsense (k or c0 not > 0)."""
    mean_x = sum(xs) / n
    mean_c = sum(attenuations) / n
    sxx = sum((x - mean_x) ** 2 for x in xs)
    sxc = sum((x - mean_x) * (c - mean_c) for x, c in zip(xs, attenuations, strict=True))
    k = sxc / sxx
    c0 = mean_c - k * mean_x
    if k <= 0 or c0 <= 0:
        log.info("fitting c0 and k gave c0=%.4g, k=%.4g: not physical; fitting k alone", c0, k)
        return None
    return Conversion(c0, k, "fitted", n, f"c0 and k fitted to {n} reports")


def _fit_k(settings: VisibilitySettings, xs: list[float], attenuations: list[float]) -> Conversion:
    """Least squares through the origin of ``c - c0 = k x``, with ``c0`` the default."""
    c0 = settings.clear_water_attenuation_per_m
    sxx = sum(x * x for x in xs)
    n = len(xs)
    if sxx == 0:
        return _rejected(settings, n, "every report was made at 0 NTU")
    k = sum(x * (c - c0) for x, c in zip(xs, attenuations, strict=True)) / sxx
    if k <= 0:
        return _rejected(settings, n, f"the reports give k={k:.4g}, not more than 0")
    return Conversion(c0, k, "fitted", n, f"k fitted to {n} reports, c0 default")


def _rejected(settings: VisibilitySettings, n: int, why: str) -> Conversion:
    log.info("keeping the default visibility conversion: %s (%d reports)", why, n)
    return default_conversion(settings, f"{why}; defaults kept")
