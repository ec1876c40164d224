"""Duty: which shift a guard is on at a moment, from their site's shifts.

A site without shifts keeps its guards on duty always (vigil before shifts); once a site
has any, each of its guards is on duty only inside a shift that names them, and off
duty otherwise. Times are the site's (its time zone, daylight saving included); a shift
whose close is not after its open runs overnight and belongs to the day it starts.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import NamedTuple

from core.fleet import DAYS, FleetIndex, Shift, Site, parse_clock


class Window(NamedTuple):
    """One occurrence of a shift: from `start` to `end`, microseconds since the epoch."""

    site_id: str
    shift_id: str
    start: int
    end: int


def window_at(site: Site, shift: Shift, when: int) -> Window | None:
    """The occurrence of `shift` that `when` (µs) falls in, if any."""
    tz = site.tz
    today = datetime.fromtimestamp(when / 1e6, tz).date()
    for day in (today, today - timedelta(days=1)):  # an overnight shift began yesterday
        if DAYS[day.weekday()] not in shift.hours.days:
            continue
        start, end = _bounds(day, shift, site)
        if start <= when < end:
            return Window(site.id, shift.id, start, end)
    return None


def _bounds(day: date, shift: Shift, site: Site) -> tuple[int, int]:
    opens, closes = parse_clock(shift.hours.open), parse_clock(shift.hours.close)
    # "24:00" reads as 00:00: like any close not after the open, it is the next day's.
    close_day = day + timedelta(days=1) if closes <= opens else day
    start = datetime.combine(day, opens, site.tz)
    end = datetime.combine(close_day, closes, site.tz)
    return int(start.timestamp() * 1e6), int(end.timestamp() * 1e6)


def current(index: FleetIndex, guard_id: str, when: int) -> tuple[Shift, Window] | None:
    """The shift `guard_id` is on at `when`, with its occurrence; None when off duty (or
    when the guard's site has no shifts: ask `on_duty`)."""
    guard = index.guards[guard_id]
    site = index.sites[guard.site_id]
    for shift in index.shifts.get(guard_id, ()):
        window = window_at(site, shift, when)
        if window is not None:
            return shift, window
    return None


def on_duty(index: FleetIndex, guard_id: str, when: int) -> bool:
    """Whether the rules apply to the guard at `when` (µs)."""
    guard = index.guards.get(guard_id)
    if guard is None or guard.site_id not in index.rostered:
        return True
    return current(index, guard_id, when) is not None


def private(index: FleetIndex, guard_id: str, when: int) -> bool:
    """A position not to be stored: the guard is off duty and the tenant did not opt in."""
    guard = index.guards.get(guard_id)
    if guard is None or guard.site_id not in index.rostered:
        return False
    tenant = index.tenants.get(guard.client_id)
    if tenant is not None and tenant.store_off_duty:
        return False
    return not on_duty(index, guard_id, when)
