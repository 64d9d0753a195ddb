"""The configure body's documentation (api/storage/schemas.py) and the rules that check it
(driveguard/storage/monitoring.py) name the same settings with the same bounds."""

from __future__ import annotations

import pytest

from api.storage.schemas import CONFIGURABLE_SETTINGS
from driveguard.storage import monitoring

VALIDATORS = monitoring._validators()  # the per-setting rules, before the cross-setting ones


def test_the_documented_settings_are_exactly_the_configurable_ones():
    assert set(CONFIGURABLE_SETTINGS) == monitoring.KNOWN_KEYS


@pytest.mark.parametrize("key", sorted(k for k, s in CONFIGURABLE_SETTINGS.items() if s.minimum is not None))
def test_documented_bounds_are_the_rules_bounds(key: str):
    schema = CONFIGURABLE_SETTINGS[key]
    step = 1 if schema.type == "integer" else 0.001
    low, high = schema.minimum, schema.maximum
    assert VALIDATORS[key](low) == low and VALIDATORS[key](high) == high
    for outside in (low - step, high + step):
        with pytest.raises(ValueError):
            VALIDATORS[key](outside)


def test_documented_choices_are_the_rules_choices():
    every = CONFIGURABLE_SETTINGS["collect_every_hours"].enum
    assert every and all(VALIDATORS["collect_every_hours"](hours) == hours for hours in every)
    for hours in set(range(1, 25)) - set(every):
        with pytest.raises(ValueError):
            VALIDATORS["collect_every_hours"](hours)
    assert CONFIGURABLE_SETTINGS["apprise_urls"].max_items == 50
    with pytest.raises(ValueError):
        VALIDATORS["apprise_urls"](["json://example.com"] * 51)
