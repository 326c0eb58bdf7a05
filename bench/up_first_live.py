"""What a newcomer waits for: from ``smartcity up --detach`` on a fresh work directory to the city page's first
live values, with the default demo city.

Prints, in seconds from the command's start: when it returned (stack ready, URL printed); the first non-empty
``/v1/latest`` answer for the first district (the last-value cache reaches back a day, so back-filled values count)
and the first one holding a live value (at most :data:`LIVE_S` old); the same two instants for ``latest`` events
on ``/v1/stream``. Stops the stack (``smartcity down``) and removes the work directory at the end.

    .venv/bin/python -m bench.up_first_live                         # default city: 2,000 devices, 1 day back-filled
    SMARTCITY_UP_BACKFILL_RATE=10000 .venv/bin/python -m bench.up_first_live
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

import httpx

_CLI = (sys.executable, "-m", "smartcity.cli")
LIVE_S = 300.0
"""A value is live when it is at most this old (a reading of the live phase, not of the back-filled day)."""


def _sse_events(url: str, key: str, t0: float, found: dict[str, float], stop: threading.Event) -> None:
    """Records the first ``latest`` event (``sse``) and the first one with a live value (``sse_live``)."""
    headers = {"Authorization": f"Bearer {key}", "Accept": "text/event-stream"}
    while not stop.is_set() and "sse_live" not in found:
        try:
            with httpx.stream("GET", f"{url}/v1/stream", headers=headers, timeout=30) as response:
                if response.status_code != 200:
                    time.sleep(0.5)
                    continue
                for line in response.iter_lines():
                    if stop.is_set():
                        return
                    if line.startswith("event: latest"):
                        found.setdefault("sse", time.monotonic() - t0)
                    elif line.startswith("data:") and '"time"' in line and _live(json.loads(line[5:])["time"]):
                        found["sse_live"] = time.monotonic() - t0
                        return
        except httpx.HTTPError:
            time.sleep(0.5)


def _watch(url: str, key: str, t0: float, timeout_s: float) -> tuple[dict[str, float], dict[str, float], str]:
    auth = {"Authorization": f"Bearer {key}"}
    found: dict[str, float] = {}
    ages: dict[str, float] = {}
    stop = threading.Event()
    sse = threading.Thread(target=_sse_events, args=(url, key, t0, found, stop), daemon=True)
    sse.start()
    district = str(httpx.get(f"{url}/v1/districts", headers=auth, timeout=30).json()["items"][0]["id"])
    deadline = t0 + timeout_s
    while time.monotonic() < deadline and ("latest_live" not in found or "sse_live" not in found):
        answer = httpx.get(f"{url}/v1/latest", params={"district": district}, headers=auth, timeout=30)
        if answer.status_code == 200 and answer.json()["items"]:
            age = time.time() - max(_epoch(item["time"]) for item in answer.json()["items"])
            if "latest" not in found:
                found["latest"], ages["latest"] = time.monotonic() - t0, age
            if age <= LIVE_S and "latest_live" not in found:
                found["latest_live"], ages["latest_live"] = time.monotonic() - t0, age
        time.sleep(0.25)
    stop.set()
    return found, ages, district


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--timeout-s", type=float, default=600)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="smartcity-up-")) / "var"
    t0 = time.monotonic()
    started = subprocess.run([*_CLI, "up", "--detach", "--workdir", str(work)], capture_output=True, text=True)
    returned = time.monotonic() - t0
    out = " ".join(started.stdout.split())
    try:
        if started.returncode != 0:
            sys.exit(f"smartcity up --detach failed ({started.returncode}): {started.stdout}{started.stderr}")
        api = re.search(r"city page (http://\S+)/", out)
        key = re.search(r"stored hashed\): (\S+)", out)
        if api is None or key is None:
            sys.exit(f"no city page URL or operator key in: {out}")
        found, ages, district = _watch(api.group(1), key.group(1), t0, args.timeout_s)
        nan = float("nan")
        print(f"smartcity up --detach returned after {returned:.1f} s (stack ready, city page URL printed)")
        print(f"first non-empty /v1/latest (district {district}) after {found.get('latest', nan):.1f} s", end="")
        print(f", its newest value {ages.get('latest', nan) / 60:.0f} min old")
        print(f"first live /v1/latest (newest value <= {LIVE_S:.0f} s old) after {found.get('latest_live', nan):.1f} s")
        print(f"first SSE 'latest' event on /v1/stream after {found.get('sse', nan):.1f} s")
        print(f"first SSE event with a live value after {found.get('sse_live', nan):.1f} s")
    finally:
        subprocess.run([*_CLI, "down", "--workdir", str(work)], capture_output=True, text=True, check=False)
        _print_losses(work / "logs" / "simulator.log")
        shutil.rmtree(work.parent, ignore_errors=True)


def _print_losses(log: Path) -> None:
    """What the simulator sent and anything it dropped or had refused (a back-fill too fast shows here)."""
    with contextlib.suppress(FileNotFoundError):
        lines = [line for line in log.read_text().splitlines() if line.startswith('{"counters"')]
        if lines:
            counters = json.loads(lines[-1])["counters"]
            lost = {k: v for k, v in counters.items() if v and (k.startswith(("dropped", "publish_refused")))}
            print(f"simulator: {counters['readings']:,} readings sent, dropped or refused: {lost or 'none'}")


def _live(text: str) -> bool:
    return time.time() - _epoch(text) <= LIVE_S


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


if __name__ == "__main__":
    main()
