"""Summarise a py-spy "raw" (collapsed stacks) file: where a process spent its samples, by self and inclusive time.

    .venv/bin/python bench/profile_summary.py bench/results/profile-order.txt [--top 25]

Each line of the file is `frame;frame;...;leaf count`, a frame `function (file:line)`; `--function` was used
when recording, so a frame names a function, not a line, and `--threads`, so each stack starts with its
thread (`thread (id): MainThread` is the event loop, where requests are served). Self time is the leaf's;
inclusive time counts a function once per stack however deep it recurses. Idle threads are not sampled (no
`--idle`), so the shares are of the time the process was running Python or native code, which is what CPU
profiling wants.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

FRAME = re.compile(r"^(?P<function>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")


def short(frame: str) -> str:
    match = FRAME.match(frame)
    if not match:
        return frame
    file = match["file"]
    for marker in ("site-packages/", "src/", "lib/python3.11/"):
        if marker in file:
            file = file.split(marker, 1)[1]
            break
    return f"{match['function']} ({file})"


# Frames every sample of a thread passes through (process start, the event loop's run, a thread's start):
# they would top the inclusive list and say nothing.
PLUMBING = ("click/", "<frozen runpy>", "uvicorn/main.py", "uvicorn/_compat.py", "uvicorn/server.py",
            "uvicorn/__main__.py", "asyncio/runners.py", "threading.py", "thread (")


def summarise(path: Path, top: int = 25, thread: str | None = None) -> dict[str, object]:
    """The shares of samples; with `thread`, only that thread's (a file recorded with py-spy --threads)."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        if thread is not None and not frames[0].endswith(f": {thread}"):
            continue
        n = int(count)
        frames = [short(f) for f in frames if not f.startswith("thread (")] or ["(no Python frame)"]
        total += n
        own[frames[-1]] += n
        for frame in set(frames):
            if not any(marker in frame for marker in PLUMBING):
                inclusive[frame] += n

    def share(n: int) -> float:
        return round(n / total, 3) if total else 0.0

    return {
        "samples": total,
        "self": [(frame, share(n)) for frame, n in own.most_common(top)],
        "inclusive": [(frame, share(n)) for frame, n in inclusive.most_common(top)],
    }


def print_summary(name: str, summary: dict[str, object], top: int) -> None:
    print(f"\n{name}: {summary['samples']} samples")
    for kind in ("inclusive", "self"):
        print(f"  top {top} by {kind} time:")
        for frame, share in summary[kind][:top]:  # type: ignore[index]
            print(f"    {share * 100:5.1f}%  {frame}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--thread", help="only this thread's samples, e.g. MainThread (the event loop)")
    args = parser.parse_args()
    for path in args.files:
        name = f"{path}, thread {args.thread}" if args.thread else str(path)
        print_summary(name, summarise(path, args.top, args.thread), args.top)


if __name__ == "__main__":
    main()
