"""The core stays pure: no I/O library is loaded, the clock is never read, no id is made inside."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import ordering_core

CORE = Path(ordering_core.__file__).parent
IO_MODULES = {"confluent_kafka", "starlette", "httpx", "sqlite3", "sqlite_utils", "socket"}


def modules_loaded_by_importing_the_core() -> set[str]:
    script = "import json, sys; import ordering_core; print(json.dumps(sorted(sys.modules)))"
    completed = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(CORE.parent)},
    )
    return set(json.loads(completed.stdout))


class TestPurity:
    def test_importing_the_core_loads_no_io_module(self) -> None:
        loaded = {name.split(".")[0] for name in modules_loaded_by_importing_the_core()}

        assert loaded & IO_MODULES == set()

    def test_the_core_depends_only_on_the_standard_library_and_attrs(self) -> None:
        loaded = {name.split(".")[0] for name in modules_loaded_by_importing_the_core()}

        outside = loaded - set(sys.stdlib_module_names) - {"ordering_core", "attr", "attrs"}
        assert {name for name in outside if not name.startswith("_")} == set()

    def test_no_rule_reads_the_clock_or_makes_ids(self) -> None:
        offences = [
            f"{path.name}: {offence}"
            for path in sorted(CORE.rglob("*.py"))
            for offence in clock_or_id_uses(ast.parse(path.read_text(), filename=str(path)))
        ]

        assert offences == []


def clock_or_id_uses(tree: ast.AST) -> list[str]:
    """Imports of clock/randomness modules and calls such as `datetime.now()` or `uuid4()`."""
    modules = {"time", "uuid", "random", "secrets", "os"}
    calls = {"now", "utcnow", "today", "time", "uuid1", "uuid4"}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [f"import {a.name}" for a in node.names if a.name.split(".")[0] in modules]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in modules:
            found.append(f"from {node.module} import ...")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in calls:
            found.append(f"line {node.lineno}: .{node.func.attr}()")
    return found
