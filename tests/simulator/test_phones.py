"""Simulated phones (simulator/phones.py): a simulation's messages sent as OwnTracks and
Traccar Client would send them decode, through vigil's own decoder, into the records
the native message makes: same guard, same place, same time (to the protocol's grain)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.fleet import FleetIndex, load_fleet
from core.records import DeviceEvent, DeviceStatus, GuardLocation, Record
from core.settings import Settings
from core.trackers import PhoneDecoder
from simulator.engine import Params, Simulation
from simulator.fleet import simulated_fleet
from simulator.phones import Phones

START = datetime(2026, 12, 1, 13, 30, tzinfo=UTC).timestamp()
FLEET = simulated_fleet(load_fleet(Settings().fleet_path), 30, owntracks_every=3)
DECODER = PhoneDecoder(FleetIndex(FLEET), Settings())
PHONES = Phones(FLEET, osmand_percent=40)


def native(record: Record) -> tuple:
    if isinstance(record, GuardLocation):
        return ("fix", record.guard_id, round(record.lat, 6), round(record.lon, 6))
    if isinstance(record, DeviceEvent):
        return ("alarm", record.device_id, record.type)
    if isinstance(record, DeviceStatus):
        return ("status", record.device_id, record.online)
    return ("other", record.entity_id)


def test_every_phone_message_decodes_to_what_its_native_message_does() -> None:
    params = Params(event_every_s=5.0, offline_after_s={"tracker": 30.0, "panic_button": 30.0})
    simulation = Simulation(FLEET, seed=3, start=START, params=params)
    ways = {"owntracks": 0, "osmand": 0}
    for index in range(400):
        for message in simulation.round(index).messages:
            received = int((message.ts + 1) * 1e6)
            ours = DECODER.records(message.topic, message.body(), received)
            theirs: list[Record] = []
            translated = PHONES.as_owntracks(message)
            if translated is not None:
                ways["owntracks"] += 1
                theirs = DECODER.records(translated.topic, translated.body(), received)
                assert {r.source for r in theirs} == {"owntracks"}
            request = PHONES.as_osmand(message)
            if request is not None:
                ways["osmand"] += 1
                device, query = request
                theirs = DECODER.osmand(device, query, b"", received)
                assert {r.source for r in theirs} == {"osmand"}
            if not theirs:
                continue
            wanted = {native(r) for r in ours if r.TABLE != "device_telemetry"}
            assert wanted <= {native(r) for r in theirs}, message
            grain = 1.0 if translated is not None else 0.001  # OwnTracks: whole seconds
            mine = [r for r in ours if isinstance(r, GuardLocation)]
            phone = [r for r in theirs if isinstance(r, GuardLocation)]
            if mine:
                assert abs(mine[0].ts - phone[0].ts) <= grain * 1e6
                assert phone[0].speed == pytest.approx(mine[0].speed, abs=0.3)
    assert ways["owntracks"] > 100 and ways["osmand"] > 100, ways
