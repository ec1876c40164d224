"""The Hub as a Ray actor: positions conflated by version, messages logged per channel,
a long poll that wakes on news, and replay for a client that reconnects."""

from __future__ import annotations

from typing import Any

import pytest
import ray

from actors.hub import Hub, noc_channel, user_channel
from core.alerts import AlertKind, make_alert
from core.messages import Position, Priority
from tests.conftest import wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def hub(ray_cluster: None) -> Any:
    actor = Hub.remote()  # type: ignore[attr-defined]
    yield actor
    ray.kill(actor)


def fix(guard: str, ts: int) -> Position:
    return Position(guard_id=guard, client_id=1, lat=12.0, lon=77.0, ts=ts)


def panic(entity: str, tenant: int, ts: int) -> Any:
    return make_alert(AlertKind.PANIC, entity_id=entity, client_id=tenant, site_id=None, ts=ts)


def test_positions_keep_the_latest_fix_and_report_only_what_changed(hub: Any) -> None:
    ray.get(hub.update_positions.remote([fix("g1", 10)]))
    start = ray.get(hub.pull.remote("", 0, 0, 0.0))
    ray.get(hub.update_positions.remote([fix("g1", 5), fix("g2", 7), fix("g2", 8)]))  # g1: older
    pulled = ray.get(hub.pull.remote(start.epoch, start.seq, start.pos_version, 0.0))
    assert [(p.guard_id, p.ts) for p in pulled.positions] == [("g2", 8)]
    assert pulled.positions[0].version == pulled.pos_version
    served = ray.get(hub.positions_of.remote(1))
    assert {p["guard_id"]: p["ts"] for p in served} == {"g1": 10, "g2": 8}


def test_a_long_poll_returns_as_soon_as_an_alert_is_published(hub: Any) -> None:
    cursor = ray.get(hub.cursor.remote())
    pulls = ray.get(hub.get_stats.remote())["pulls"]
    waiting = hub.pull.remote(cursor.epoch, cursor.seq, 10**9, 30.0)
    wait_for(lambda: ray.get(hub.get_stats.remote())["pulls"] > pulls, 5, "the poll parked")
    ray.get(hub.publish_alerts.remote([panic("g1", 1, 1)]))
    pulled = ray.get(waiting, timeout=5)
    assert [m.data["entity_id"] for m in pulled.messages] == ["g1"]
    assert pulled.messages[0].channel == noc_channel(1)
    assert pulled.messages[0].priority is Priority.HIGH


def test_replay_gives_a_channels_messages_after_a_seq_in_order(hub: Any) -> None:
    ray.get(hub.publish_alerts.remote([panic("a", 1, 1), panic("b", 2, 2), panic("c", 1, 3)]))
    ray.get(hub.broadcast.remote(user_channel(1, "u1"), "training_progress", {"p": 1}))
    cursor = ray.get(hub.cursor.remote())
    found = ray.get(hub.replay.remote([noc_channel(1), user_channel(1, "u1")], 1, cursor.epoch))
    assert [m.seq for m in found.messages] == [3, 4] and found.complete
    assert ray.get(hub.replay.remote([noc_channel(1)], 0, "old-epoch")).complete is False
    everyone = ray.get(hub.replay.remote([], 0, cursor.epoch, all_noc=True))
    assert [m.seq for m in everyone.messages] == [1, 2, 3]


def test_a_broadcast_names_a_real_channel(hub: Any) -> None:
    with pytest.raises(ray.exceptions.RayTaskError, match="channel"):
        ray.get(hub.broadcast.remote("everyone", "x", {}))


def test_an_alert_published_again_reaches_the_noc_once(hub: Any) -> None:
    """The router publishes while it writes; a raise retried after a failed write
    publishes the same alert_id again."""
    cursor = ray.get(hub.cursor.remote())
    alert = panic("g9", 1, 9)
    ray.get(hub.publish_alerts.remote([alert]))
    ray.get(hub.publish_alerts.remote([alert, panic("g10", 1, 10)]))
    pulled = ray.get(hub.pull.remote(cursor.epoch, cursor.seq, 10**9, 0.0))
    assert [m.data["entity_id"] for m in pulled.messages] == ["g9", "g10"]
    snapshot = ray.get(hub.snapshot.remote(1))
    assert [a["entity_id"] for a in snapshot["alerts"]].count("g9") == 1
