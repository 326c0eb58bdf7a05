"""Summaries of py-spy samples (``py-spy record --format raw``, collapsed stacks): self and inclusive time."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

_LINE = re.compile(r"^(?P<stack>.*) (?P<count>\d+)$")
_FRAME = re.compile(r"^(?P<func>[^ ]+) \((?P<file>[^:]+)(?::\d+)?\)$")


def _frame(frame: str) -> str:
    match = _FRAME.match(frame.strip())
    if not match:
        return frame.strip()
    path = match.group("file")
    for marker in ("site-packages/", "/work/main/", "python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{match.group('func')} ({path})"


def summarize(path: Path, top: int = 15) -> str:
    """The ``top`` functions by self time and by inclusive time, in percent of all samples."""
    self_time: Counter[str] = Counter()
    total_time: Counter[str] = Counter()
    samples = 0
    for line in path.read_text().splitlines():
        match = _LINE.match(line)
        if not match:
            continue
        count = int(match.group("count"))
        frames = [_frame(f) for f in match.group("stack").split(";")]
        # the first frame is the thread's name: py-spy prefixes it
        samples += count
        self_time[frames[-1]] += count
        for frame in set(frames[1:]):
            total_time[frame] += count
    if not samples:
        return "no samples"
    lines = [f"{samples} samples", "self time:"]
    lines += [f"  {100 * n / samples:5.1f}%  {name}" for name, n in self_time.most_common(top)]
    lines.append("total time (inclusive):")
    lines += [f"  {100 * n / samples:5.1f}%  {name}" for name, n in total_time.most_common(top)]
    return "\n".join(lines)
