"""Imports point inward: entrypoints -> adapters -> ordering_core, and between adapter rooms only as declared.

Read from the source (every `import` and `from ... import` of `src/`, those under `if TYPE_CHECKING:` too), so
a wrong import fails here whether or not a test happens to load it. A new adapter room must be added to
ROOMS with what it may use: the table is the design, written where a change to it is reviewed.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
OURS = ("ordering_core", "adapters", "entrypoints")

# Each adapter room and the other rooms it may import (every room may import ordering_core).
ROOMS: dict[str, frozenset[str]] = {
    # Leaves: no other room.
    "adapters.tracecontext": frozenset(),
    "adapters.logs": frozenset(),
    "adapters.distribution": frozenset(),
    "adapters.identity": frozenset(),
    "adapters.metrics": frozenset(),
    "adapters.strict": frozenset(),
    "adapters.retention": frozenset(),
    "adapters.rows": frozenset(),
    # Events as bytes, for every adapter that stores or sends one.
    "adapters.wire": frozenset({"adapters.strict", "adapters.tracecontext"}),
    # The broker port and the broker-agnostic relay and worker.
    "adapters.messaging": frozenset({"adapters.wire", "adapters.logs", "adapters.tracecontext"}),
    # Implementations of ports, each knowing only the port's room and the wire.
    "adapters.kafka": frozenset({"adapters.messaging"}),
    "adapters.memory": frozenset({"adapters.messaging", "adapters.wire"}),
    "adapters.schema": frozenset(),
    "adapters.sqlite": frozenset({"adapters.wire", "adapters.retention", "adapters.rows", "adapters.schema"}),
    "adapters.postgres": frozenset({"adapters.wire", "adapters.retention", "adapters.rows", "adapters.schema"}),
    "adapters.http": frozenset(
        {"adapters.identity", "adapters.logs", "adapters.strict", "adapters.tracecontext", "adapters.distribution"}
    ),
}


def room_of(module: str) -> str:
    """`adapters.kafka.consumer` -> `adapters.kafka`; `ordering_core.services.orders` -> `ordering_core`."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "adapters" and len(parts) > 1 else parts[0]


def wrong_way(importer: str, imported: str) -> str | None:
    """Why `importer` may not import `imported` (both dotted module names of ours), or None if it may."""
    source, target = room_of(importer), room_of(imported)
    if target in (source, "adapters"):  # within a room, or the package itself
        return None
    if source == "ordering_core":
        return "the core imports nothing of the adapters or the entrypoints"
    if source == "entrypoints":
        return None
    if target == "entrypoints":
        return "adapters never import the entrypoints"
    if target == "ordering_core":
        return None
    if source not in ROOMS:
        return f"{source} is a room not in ROOMS: declare what it may import"
    if target not in ROOMS[source]:
        return f"{source} may import only {sorted(ROOMS[source]) or 'no other room'}"
    return None


def imports_of(path: Path) -> Iterator[tuple[str, int]]:
    """Our modules `path` imports, with their line numbers (`from adapters import logs` -> adapters.logs)."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
            if node.module in OURS:  # `from adapters import tracecontext`: the module is the name imported
                names = [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            if name.split(".")[0] in OURS:
                yield name, node.lineno


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(SRC).with_suffix("").parts).removesuffix(".__init__")


def test_every_import_in_src_points_the_right_way() -> None:
    wrong = [
        f"{path.relative_to(SRC)}:{line}: {module_name(path)} imports {imported}: {reason}"
        for path in sorted(SRC.rglob("*.py"))
        for imported, line in imports_of(path)
        if (reason := wrong_way(module_name(path), imported)) is not None
    ]

    assert wrong == []


def test_every_adapter_room_in_src_is_declared() -> None:
    rooms = {
        room_of(module_name(path))
        for path in SRC.glob("adapters/*")
        if (path.is_dir() and (path / "__init__.py").exists()) or (path.suffix == ".py" and path.stem != "__init__")
    }

    assert rooms == set(ROOMS)


@pytest.mark.parametrize(
    ("importer", "imported"),
    [
        ("ordering_core.services.orders", "adapters.sqlite.orders"),
        ("ordering_core.ports", "entrypoints.settings"),
        ("adapters.sqlite.outbox", "entrypoints.runtime"),
        ("adapters.sqlite.outbox", "adapters.kafka.producer"),
        ("adapters.memory.outbox", "adapters.sqlite.database"),
        ("adapters.messaging.worker", "adapters.kafka.consumer"),
        ("adapters.wire.codec", "adapters.messaging.broker"),
        ("adapters.newroom.thing", "adapters.wire.codec"),
    ],
)
def test_an_import_the_wrong_way_is_reported(importer: str, imported: str) -> None:
    assert wrong_way(importer, imported) is not None


@pytest.mark.parametrize(
    ("importer", "imported"),
    [
        ("entrypoints.order_service", "adapters.sqlite.writer"),
        ("adapters.sqlite.outbox", "adapters.wire.codec"),
        ("adapters.kafka.broker", "adapters.messaging.broker"),
        ("adapters.http.idempotency", "ordering_core.ports"),
        ("ordering_core.services.orders", "ordering_core.ports"),
    ],
)
def test_an_import_the_right_way_passes(importer: str, imported: str) -> None:
    assert wrong_way(importer, imported) is None
