"""docs/architecture.md stays true: its table names the actors the builder starts, the
classes it starts them as, and the peers each actor's module names (core/names)."""

from __future__ import annotations

import re
from pathlib import Path

from cli.runtime import Runtime
from core import names
from core.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def documented() -> dict[str, dict[str, str]]:
    rows = {}
    for line in (ROOT / "docs" / "architecture.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 6 and cells[0].startswith("vigil-"):
            actor, cls, file, calls, _, _ = cells
            rows[actor] = {"class": cls, "file": file, "calls": calls}
    return rows


def sources(files: str) -> str:
    """The code of an actor: its module, and the base class's it names after a comma."""
    return "\n".join((ROOT / f.strip()).read_text() for f in files.split(","))


def generic(name: str) -> str:
    return re.sub(r"-\d+$", "-{i}", name)


def test_the_table_lists_every_actor_the_builder_starts() -> None:
    placeholders = [object() for _ in range(14)]
    writer, hub, notifier, router, s0, s1, s2, i0, i1, registry, cmds, train, ws, osmand = (
        placeholders
    )
    runtime = Runtime(
        Settings(), writer, hub, notifier, router, [s0, s1, s2], [i0, i1], registry, cmds,
        train, ws, osmand,
    )  # fmt: skip
    started = runtime.actors()
    assert list(started.values()) == placeholders  # each handle under its own name
    assert sorted({generic(n) for n in started}) == sorted(documented())


def test_each_actor_is_started_as_the_class_the_table_names() -> None:
    builder = (ROOT / "cli" / "runtime.py").read_text()
    spawned = {
        getattr(names, constant) if constant.isupper() else f"vigil-{constant}-{{i}}": cls
        for cls, constant in re.findall(r"spawn\((\w+), names\.(\w+)", builder)
    }
    table = documented()
    assert spawned == {actor: row["class"] for actor, row in table.items()}
    for actor, row in table.items():
        source = sources(row["file"])
        assert f"class {row['class']}" in source, f"{actor}: {row['file']} has no {row['class']}"


def test_each_actor_reaches_the_peers_the_table_names() -> None:
    for actor, row in documented().items():
        source = sources(row["file"])
        found = set()
        for target in re.findall(r"\bnames\.(\w+)", source):
            if target.isupper():
                found.add(getattr(names, target))
            elif target in ("shard", "ingest"):
                found.add(f"vigil-{target}-{{i}}")
        found.discard(actor)  # its own name
        said = set() if row["calls"] == "—" else {c.strip() for c in row["calls"].split(",")}
        assert found == said, f"{actor}: the code looks up {sorted(found)}"
