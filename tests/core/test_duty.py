"""Which shift a guard is on, in the site's time zone, with literal times."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core import duty
from core.errors import ConfigError
from core.fleet import Hours, Shift, Site, parse_fleet
from tests.duty_fleet import END, MINUTE, NIGHT, START, duty_fleet

FLEET = duty_fleet()
SITE = FLEET.sites["site-night"]


def us(*when: int) -> int:
    return int(datetime(*when, tzinfo=UTC).timestamp() * 1_000_000)


def test_an_overnight_shift_runs_from_its_open_to_the_next_mornings_close() -> None:
    window = duty.window_at(SITE, NIGHT, START + 30 * MINUTE)
    assert window == duty.Window("site-night", "night", START, END)
    assert duty.window_at(SITE, NIGHT, END - 1) == window  # 05:59:59.999999 on Thursday
    assert duty.window_at(SITE, NIGHT, END) is None
    assert duty.window_at(SITE, NIGHT, START - 1) is None


def test_after_midnight_a_shift_belongs_to_the_day_it_started() -> None:
    monday_only = Shift(id="mon", guards=[], hours=Hours(open="22:00", close="06:00", days=["mon"]))
    tuesday_3am = us(2026, 12, 7, 21, 30)  # Tue 03:00 in Bengaluru: Monday's night
    assert duty.window_at(SITE, monday_only, tuesday_3am) is not None
    tuesday_11pm = us(2026, 12, 8, 17, 30)
    assert duty.window_at(SITE, monday_only, tuesday_11pm) is None


def test_a_night_across_a_daylight_saving_change_is_an_hour_shorter() -> None:
    berlin = Site(id="b", client_id=1, timezone="Europe/Berlin")
    window = duty.window_at(berlin, NIGHT, us(2026, 3, 28, 23, 0))  # the clocks go forward
    assert window is not None and window.end - window.start == 7 * 60 * MINUTE


def test_a_site_without_shifts_keeps_its_guards_on_duty_and_a_rostered_one_only_in_a_shift() -> (
    None
):
    assert duty.on_duty(FLEET, "g-3", START - 60 * MINUTE)
    assert duty.on_duty(FLEET, "g-1", START) and not duty.on_duty(FLEET, "g-1", START - 1)
    assert not duty.on_duty(FLEET, "g-2", START)  # the site has shifts; none names g-2


def test_off_duty_positions_are_private_unless_the_tenant_opts_in() -> None:
    assert duty.private(FLEET, "g-1", START - 1) and not duty.private(FLEET, "g-1", START)
    assert not duty.private(duty_fleet(store_off_duty=True), "g-1", START - 1)
    assert not duty.private(FLEET, "g-3", START - 1)


@given(st.integers(0, 14 * 24 * 60 * 60), st.sampled_from(["Asia/Kolkata", "America/New_York"]))
def test_a_window_found_holds_the_moment_and_lasts_the_shifts_length(offset: int, tz: str) -> None:
    site = Site(id="s", client_id=1, timezone=tz)
    when = us(2026, 3, 1) + offset * 1_000_000
    window = duty.window_at(site, NIGHT, when)
    local = datetime.fromtimestamp(when / 1e6, site.tz).time()
    assert (window is not None) == (local.hour >= 22 or local.hour < 6)
    if window is not None:
        assert window.start <= when < window.end
        assert abs(window.end - window.start - 8 * 60 * MINUTE) <= 60 * MINUTE  # DST


@pytest.mark.parametrize(
    ("shift", "message"),
    [
        ({"id": "n", "guards": ["g-3"]}, "sites[0].shifts[0].guards[0]: 'g-3' is not a guard"),
        ({"id": "n", "guards": [], "hours": {"open": "25:00"}}, "shifts[0].hours: bad time"),
        ({"id": "n", "guards": [], "no_show_after_s": 0}, "shifts[0].no_show_after_s"),
        (
            {"id": "n", "guards": [], "lone_worker": {"moved_m": -1}},
            "shifts[0].lone_worker.moved_m: must be more than 0",
        ),
    ],
)
def test_a_bad_shift_is_refused_naming_its_key(shift: dict[str, object], message: str) -> None:
    raw = {
        "tenants": [{"id": 1}],
        "sites": [{"id": "a", "client_id": 1, "shifts": [shift]}, {"id": "b", "client_id": 1}],
        "guards": [{"id": "g-3", "client_id": 1, "site_id": "b"}],
    }
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_fleet(raw)


def test_a_shift_id_twice_at_one_site_is_refused() -> None:
    raw = {
        "tenants": [{"id": 1}],
        "sites": [{"id": "a", "client_id": 1, "shifts": [{"id": "n", "guards": []}] * 2}],
    }
    with pytest.raises(ConfigError, match=r"sites\[0\].shifts\[1\].id: 'n' twice"):
        parse_fleet(raw)
