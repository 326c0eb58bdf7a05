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


def _area(frame: str) -> str:
    """Where a frame's code lives: a project module, a library, or the standard library."""
    path = frame.rsplit("(", 1)[-1].rstrip(")")
    if path.startswith(("gateway/", "smartcity/", "bench/")):
        return path
    if "/" in path:
        return path.split("/", 1)[0]
    return "stdlib/native" if path else "unknown"


def summarize(path: Path, top: int = 12) -> str:
    """Self time by area (project module or library) and by function, and inclusive time by function, in percent
    of the samples taken after start-up (imports and CLI set-up are counted apart)."""
    self_time: Counter[str] = Counter()
    total_time: Counter[str] = Counter()
    areas: Counter[str] = Counter()
    samples = startup = 0
    for line in path.read_text().splitlines():
        match = _LINE.match(line)
        if not match:
            continue
        count = int(match.group("count"))
        stack = match.group("stack")
        if "_find_and_load" in stack or "_load_components" in stack:
            startup += count
            continue
        frames = [_frame(f) for f in stack.split(";") if f.strip()]
        if not frames:
            frames = ["(no Python frame: native code or a thread without Python stack)"]
        samples += count
        self_time[frames[-1]] += count
        areas[_area(frames[-1])] += count
        for frame in set(frames):
            total_time[frame] += count
    if not samples:
        return "no samples"
    lines = [f"{samples} samples after start-up ({startup} more during imports and start-up)", "self time by area:"]
    lines += [f"  {100 * n / samples:5.1f}%  {name}" for name, n in areas.most_common(top)]
    lines.append("self time by function:")
    lines += [f"  {100 * n / samples:5.1f}%  {name}" for name, n in self_time.most_common(top)]
    lines.append("inclusive time by function:")
    lines += [f"  {100 * n / samples:5.1f}%  {name}" for name, n in total_time.most_common(top + 8)]
    return "\n".join(lines)
