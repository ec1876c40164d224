"""The fan-out without Ray or a network, on the recording sockets of tests/serve/sockets.py."""

from __future__ import annotations

import asyncio
from typing import Any

from serve.fanout import TOO_SLOW, Fanout
from tests.serve.sockets import Direct, Recorder, Stuck, alert, fix, run, settle


def test_alerts_arrive_in_order_and_only_at_their_tenants_clients() -> None:
    async def scenario() -> tuple[Recorder, Recorder, Recorder]:
        fanout = Fanout(queue_size=100)
        one, two, everyone = Recorder(), Recorder(), Recorder()
        for socket, tenant in ((one, 1), (two, 2), (everyone, None)):
            fanout.add(socket, f"user-{tenant}", tenant).start(after=0)
        fanout.deliver([alert(1), alert(2, tenant=2), alert(3)])
        await settle()
        return one, two, everyone

    one, two, everyone = run(scenario())
    assert [m["seq"] for m in one.messages("alert")] == [1, 3]
    assert [m["seq"] for m in two.messages("alert")] == [2]
    assert [m["seq"] for m in everyone.messages("alert")] == [1, 2, 3]


def test_several_alerts_waiting_go_in_one_frame() -> None:
    async def scenario() -> Recorder:
        fanout = Fanout(queue_size=100)
        socket = Recorder()
        fanout.add(socket, "u", 1).start(after=0)
        fanout.deliver([alert(n) for n in range(1, 6)])
        await settle()
        return socket

    socket = run(scenario())
    assert len(socket.frames) == 1 and len(socket.frames[0]) == 5


def test_positions_are_conflated_to_the_latest_fix_per_guard_per_tick() -> None:
    async def scenario() -> Recorder:
        fanout = Fanout(queue_size=100)
        socket = Recorder()
        fanout.add(socket, "u", 1).start(after=0)
        for version in range(1, 21):  # 20 fixes of g1 between two ticks
            fanout.update_positions([fix("g1", version, lat=version, version=version)])
        fanout.update_positions([fix("g2", 21, tenant=2, version=21)])
        fanout.tick()
        await settle()
        fanout.tick()  # nothing new: nothing sent
        await settle()
        return socket

    socket = run(scenario())
    frames = socket.messages("positions")
    assert len(frames) == 1
    rows = frames[0]["data"]["rows"]
    assert [(r[0], r[3]) for r in rows] == [("g1", 20)]  # the latest; tenant 2's guard left out


def test_a_client_that_cannot_take_its_alerts_is_dropped_and_the_others_carry_on() -> None:
    async def scenario() -> tuple[Recorder, Stuck, Fanout]:
        fanout = Fanout(queue_size=10)
        fast, stuck = Recorder(), Stuck()
        fanout.add(fast, "fast", 1).start(after=0)
        fanout.add(stuck, "stuck", 1).start(after=0)
        for seq in range(1, 31):
            fanout.deliver([alert(seq)])
            await settle()
        return fast, stuck, fanout

    fast, stuck, fanout = run(scenario())
    assert [m["seq"] for m in fast.messages("alert")] == list(range(1, 31))
    assert stuck.closed == TOO_SLOW
    assert fanout.stats["disconnected_slow"] == 1


def test_a_slow_client_gets_positions_coalesced_never_queued() -> None:
    async def scenario() -> tuple[Recorder, Any]:
        fanout = Fanout(queue_size=10)
        gate = asyncio.Event()

        class Slow(Recorder):
            async def send_text(self, data: str) -> None:
                await gate.wait()
                await super().send_text(data)

        slow = Slow()
        client = fanout.add(slow, "slow", 1)
        client.start(after=0)
        for tick in range(1, 6):  # five ticks while its first frame is still being sent
            fanout.update_positions([fix("g1", tick, lat=tick, version=tick)])
            fanout.update_positions([fix(f"g{tick + 1}", tick, version=tick)])
            fanout.tick()
            await settle()
        gate.set()
        await settle()
        return slow, fanout

    slow, fanout = run(scenario())
    frames = slow.messages("positions")
    assert len(frames) == 2  # the one in flight, then one catch-up with everything since
    latest = {row[0]: row[3] for row in frames[1]["data"]["rows"]}
    assert latest["g1"] == 5 and {"g3", "g4", "g5", "g6"} <= set(latest)
    assert fanout.stats["position_catchups"] >= 1


def test_normal_messages_are_dropped_for_a_full_client_instead_of_disconnecting_it() -> None:
    async def scenario() -> tuple[Stuck, Fanout]:
        fanout = Fanout(queue_size=3)
        stuck = Stuck()
        fanout.add(stuck, "u", 1).start(after=0)
        for seq in range(1, 10):
            fanout.deliver([alert(seq, priority="normal")])
            await settle()
        return stuck, fanout

    stuck, fanout = run(scenario())
    assert stuck.closed is None
    assert fanout.stats["dropped_normal"] >= 5


def test_messages_before_the_replay_was_sent_are_not_sent_twice() -> None:
    async def scenario() -> Recorder:
        fanout = Fanout(queue_size=100)
        socket = Recorder()
        client = fanout.add(socket, "u", 1)
        fanout.deliver([alert(4), alert(5), alert(6)])  # live, while the replay was fetched
        client.start(after=5)  # the replay went up to 5
        await settle()
        return socket

    socket = run(scenario())
    assert [m["seq"] for m in socket.messages("alert")] == [6]


def test_with_acks_one_position_frame_is_in_flight_and_alerts_still_pass() -> None:
    async def scenario() -> tuple[Recorder, Any]:
        fanout = Fanout(queue_size=100)
        socket = Recorder()
        client = fanout.add(socket, "u", 1, acks=True)
        client.start(after=0)
        for version in range(1, 4):  # three ticks, no ack yet
            fanout.update_positions([fix("g1", version, lat=version, version=version)])
            fanout.tick()
            await settle()
        fanout.deliver([alert(1)])
        await settle()
        before_ack = [m["type"] for frame in socket.frames for m in frame]
        client.acknowledged(socket.messages("positions")[0]["v"])
        await settle()
        return socket, before_ack

    socket, before_ack = run(scenario())
    assert before_ack == ["positions", "alert"]  # one frame out, the alert not held back
    frames = socket.messages("positions")
    assert len(frames) == 2 and frames[1]["data"]["rows"][0][3] == 3  # then the latest


def test_a_direct_socket_has_its_alerts_before_deliver_returns_one_frame_per_pull() -> None:
    async def scenario() -> tuple[Direct, Direct]:
        fanout = Fanout(queue_size=100)
        one, two = Direct(), Direct()
        for socket in (one, two):
            fanout.add(socket, "u", 1).start(after=0)
        fanout.deliver([alert(1), alert(2), alert(3, tenant=2), alert(4)])
        return one, two  # no await: nothing was left to a task

    one, two = run(scenario())
    for socket in (one, two):
        assert [[m["seq"] for m in frame] for frame in socket.frames] == [[1, 2, 4]]
        assert socket.awaited == 0


def test_a_direct_socket_with_a_full_buffer_waits_in_order_and_others_do_not() -> None:
    async def scenario() -> tuple[Direct, Direct, list[int]]:
        fanout = Fanout(queue_size=100)
        full, free = Direct(room=1), Direct()
        full.drained.clear()
        for socket in (full, free):
            fanout.add(socket, "u", 1).start(after=0)
        for seq in range(1, 5):
            fanout.deliver([alert(seq)])
            await settle()
        had = [m["seq"] for frame in full.frames for m in frame]
        full.room = 10**6
        full.drained.set()
        fanout.deliver([alert(5)])
        await settle()
        return full, free, had

    full, free, had = run(scenario())
    assert had == [1]  # one frame fitted; the rest wait for the buffer to drain
    assert [m["seq"] for frame in full.frames for m in frame] == [1, 2, 3, 4, 5]
    assert full.awaited >= 1
    assert [m["seq"] for frame in free.frames for m in frame] == [1, 2, 3, 4, 5]


def test_positions_are_spread_over_slots_each_client_once_per_round() -> None:
    async def scenario() -> list[Direct]:
        fanout = Fanout(queue_size=100)
        sockets = [Direct() for _ in range(6)]
        for socket in sockets:
            fanout.add(socket, "u", 1).start(after=0)
        fanout.update_positions([fix("g1", 1, version=1)])
        fanout.tick(0, 3)  # clients 0 and 3
        counts = [len(s.messages("positions")) for s in sockets]
        for slot in (1, 2, 0, 1, 2):  # the rest of the round, then one more with no news
            fanout.tick(slot, 3)
        assert counts == [1, 0, 0, 1, 0, 0]
        return sockets

    sockets = run(scenario())
    assert [len(s.messages("positions")) for s in sockets] == [1] * 6
