"""Every Python example in the README runs as written: docs that show code show code that works."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()
EXAMPLES = re.findall(r"```python\n(.*?)```", README, re.DOTALL)


def test_the_readme_has_python_examples():
    assert len(EXAMPLES) >= 2


@pytest.mark.parametrize("example", EXAMPLES, ids=[f"example {n + 1}" for n in range(len(EXAMPLES))])
def test_a_readme_example_runs_to_its_end(example: str) -> None:
    namespace: dict[str, object] = {"__name__": "readme_example"}

    # The examples' own asserts check what they claim; the marker shows that nothing stopped them early.
    exec(compile(example + "\nran_to_the_end = True\n", "README.md", "exec"), namespace)  # noqa: S102

    assert namespace["ran_to_the_end"] is True


def test_the_library_example_prints_why_an_order_was_refused(capsys: pytest.CaptureFixture[str]) -> None:
    (library_example,) = [example for example in EXAMPLES if "ShelfCatalog" in example]

    exec(compile(library_example, "README.md", "exec"), {"__name__": "readme_example"})  # noqa: S102

    assert "pen" in capsys.readouterr().out
