"""The quantity catalogue: codes and names unique, ranges and decimals sane, CF names right."""

from __future__ import annotations

from collections import Counter

import pytest

from nemopi import catalogue
from nemopi.catalogue import CATALOGUE, Quantity

# Checked by hand against the CF standard name table: every measured quantity that has a
# standard name, with the name it must carry. Quantities not listed must carry none.
CF_NAMES = {
    "ph": "sea_water_ph_reported_on_total_scale",
    "water_temperature": "sea_water_temperature",
    "turbidity": "sea_water_turbidity",
    "xco2_equilibrated": "mole_fraction_of_carbon_dioxide_in_air",
    "latitude": "latitude",
    "longitude": "longitude",
    "current_speed": "sea_water_speed",
    "current_direction": "direction_of_sea_water_velocity",
    "no2": "mole_fraction_of_nitrogen_dioxide_in_air",
    "no": "mole_fraction_of_nitrogen_monoxide_in_air",
}

ids = [q.name for q in CATALOGUE]


@pytest.mark.parametrize("attribute", ["code", "name", "label"])
def test_no_two_quantities_share(attribute: str) -> None:
    counts = Counter(getattr(q, attribute) for q in CATALOGUE)
    assert [key for key, n in counts.items() if n > 1] == []


@pytest.mark.parametrize("q", CATALOGUE, ids=ids)
def test_code_fits_one_cbor_byte(q: Quantity) -> None:
    assert 1 <= q.code <= 23  # CBOR packs 0..23 into the type byte: one byte per value key


@pytest.mark.parametrize("q", CATALOGUE, ids=ids)
def test_name_is_a_lower_case_identifier(q: Quantity) -> None:
    assert q.name.isidentifier() and q.name == q.name.lower()


@pytest.mark.parametrize("q", CATALOGUE, ids=ids)
def test_valid_range_is_ordered_and_contains_its_ends(q: Quantity) -> None:
    assert q.valid_min < q.valid_max
    assert q.contains(q.valid_min) and q.contains(q.valid_max)
    assert not q.contains(q.valid_max + 1) and not q.contains(q.valid_min - 1)


@pytest.mark.parametrize("q", CATALOGUE, ids=ids)
def test_decimals_resolve_the_sensor_but_keep_values_small(q: Quantity) -> None:
    # Finer than 0.1 of any unit is pointless for these sensors except position (7 places
    # is about 1 cm); every physically possible value scales to well under 2**50.
    assert 0 <= q.decimals <= 7
    assert max(abs(q.valid_min), abs(q.valid_max)) * 10**q.decimals < 2**40


@pytest.mark.parametrize("q", CATALOGUE, ids=ids)
def test_cf_standard_name_is_the_hand_checked_one(q: Quantity) -> None:
    assert q.cf_standard_name == CF_NAMES.get(q.name)


def test_hand_checked_cf_list_names_only_catalogue_quantities() -> None:
    assert set(CF_NAMES) <= {q.name for q in catalogue.measured()}


def test_lookups_by_name_and_code_agree() -> None:
    for q in CATALOGUE:
        assert catalogue.by_name(q.name) is q
        assert catalogue.by_code(q.code) is q


def test_unknown_lookups_say_so() -> None:
    assert catalogue.by_code(0) is None
    with pytest.raises(KeyError, match="unknown quantity 'salinity'"):
        catalogue.by_name("salinity")


def test_measured_excludes_exactly_the_derived_quantities() -> None:
    measured = catalogue.measured()
    assert [q for q in CATALOGUE if q not in measured] == [q for q in CATALOGUE if q.derived]
    assert {q.name for q in CATALOGUE if q.derived} == {"visibility", "pco2"}
