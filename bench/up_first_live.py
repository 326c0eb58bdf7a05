"""What a newcomer waits for: from ``smartcity up --detach`` on a fresh work directory to the city page's first
live values, with the default demo city.

Prints, in seconds from the command's start: when it returned (stack ready, URL printed), the first non-empty
``/v1/latest`` answer for the first district, the first ``latest`` event on ``/v1/stream``, and the newest reading's
age at that moment. Stops the stack (``smartcity down``) and removes the work directory at the end.

    .venv/bin/python -m bench.up_first_live            # default city (2,000 devices, 1 day back-filled)
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

_CLI = (sys.executable, "-m", "smartcity.cli")


def _first_sse_event(url: str, key: str, t0: float, found: dict[str, float], stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            headers = {"Authorization": f"Bearer {key}", "Accept": "text/event-stream"}
            with httpx.stream("GET", f"{url}/v1/stream", headers=headers, timeout=30) as response:
                if response.status_code != 200:
                    time.sleep(0.5)
                    continue
                for line in response.iter_lines():
                    if line.startswith("event: latest"):
                        found["sse"] = time.monotonic() - t0
                        return
                    if stop.is_set():
                        return
        except httpx.HTTPError:
            time.sleep(0.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout-s", type=float, default=600)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="smartcity-up-")) / "var"
    t0 = time.monotonic()
    started = subprocess.run([*_CLI, "up", "--detach", "--workdir", str(work)], capture_output=True, text=True)
    returned = time.monotonic() - t0
    out = " ".join(started.stdout.split())
    if started.returncode != 0:
        sys.exit(f"smartcity up --detach failed ({started.returncode}): {started.stdout}{started.stderr}")
    try:
        api = re.search(r"city page (http://\S+)/", out)
        key = re.search(r"stored hashed\): (\S+)", out)
        if api is None or key is None:
            sys.exit(f"no city page URL or operator key in: {out}")
        url, auth = api.group(1), {"Authorization": f"Bearer {key.group(1)}"}
        found: dict[str, float] = {}
        stop = threading.Event()
        sse = threading.Thread(target=_first_sse_event, args=(url, key.group(1), t0, found, stop), daemon=True)
        sse.start()
        district = httpx.get(f"{url}/v1/districts", headers=auth, timeout=30).json()["items"][0]["id"]
        deadline = t0 + args.timeout_s
        age_s = None
        while time.monotonic() < deadline and ("latest" not in found or "sse" not in found):
            if "latest" not in found:
                answer = httpx.get(f"{url}/v1/latest", params={"district": district}, headers=auth, timeout=30)
                if answer.status_code == 200 and answer.json()["items"]:
                    found["latest"] = time.monotonic() - t0
                    newest = max(item["time"] for item in answer.json()["items"])
                    age_s = time.time() - _epoch(newest)
            time.sleep(0.25)
        stop.set()
        print(f"smartcity up --detach returned after {returned:.1f} s (stack ready, city page URL printed)")
        print(
            f"first non-empty /v1/latest (district {district}) after {found.get('latest', float('nan')):.1f} s", end=""
        )
        print(f", newest value {age_s:.0f} s old" if age_s is not None else "")
        print(f"first SSE 'latest' event on /v1/stream after {found.get('sse', float('nan')):.1f} s")
    finally:
        subprocess.run([*_CLI, "down", "--workdir", str(work)], capture_output=True, text=True, check=False)
        shutil.rmtree(work.parent, ignore_errors=True)


def _epoch(text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


if __name__ == "__main__":
    main()
