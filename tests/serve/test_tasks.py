"""serve/tasks.py: a background task that ends, for whatever reason, ends its owner."""

from __future__ import annotations

import asyncio

from serve.tasks import Tasks
from tests.serve.sockets import run, settle


async def _forever() -> None:
    await asyncio.Event().wait()


async def _fails() -> None:
    raise RuntimeError("the Hub handle broke")


async def _returns() -> None:
    return None


def test_a_task_that_raises_or_returns_ends_its_owner_naming_task_and_cause() -> None:
    deaths: list[str] = []

    async def scenario() -> Tasks:
        tasks = Tasks("gw", on_death=deaths.append)
        tasks.start("alive", _forever())
        tasks.start("pull", _fails())
        tasks.start("tick", _returns())
        await settle()
        return tasks

    tasks = run(scenario())
    assert sorted(deaths) == [
        "task pull of gw ended (RuntimeError: the Hub handle broke)",
        "task tick of gw ended (returned)",
    ]
    assert "task pull dead (RuntimeError: the Hub handle broke)" in tasks.problems()
    assert tasks.report()["alive"]["beat_age_s"] >= 0


def test_tasks_stopped_on_purpose_or_by_a_closing_loop_are_no_death() -> None:
    deaths: list[str] = []

    async def scenario() -> None:
        stopped = Tasks("a", on_death=deaths.append)
        stopped.start("loop", _forever())
        Tasks("b", on_death=deaths.append).start("loop", _forever())  # asyncio.run cancels it
        await settle()
        stopped.stop()
        await settle()

    run(scenario())
    assert deaths == []


def test_a_task_that_stops_beating_is_reported_stuck() -> None:
    async def scenario() -> list[str]:
        tasks = Tasks("gw", on_death=lambda _: None)
        tasks.start("pull", _forever())
        await settle()
        return tasks.problems(stuck_after_s=-1.0)  # any beat is older than that

    problems = run(scenario())
    assert len(problems) == 1 and problems[0].startswith("task pull stuck for")
