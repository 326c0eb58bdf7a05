"""The MQTT -> InfluxDB bridge a user writes in an afternoon: the baseline of the gateway benchmark.

paho subscriber (MQTT 5, QoS as configured, paho's automatic ack on receipt), ``json.loads``, an f-string
line protocol, batches of 5,000 lines or 1 s, ``POST /write`` on a keep-alive HTTP client. No validation,
no retry, no spool: whatever goes wrong after paho acknowledged a message is lost. It is deliberately not
improved; it is what the gateway is measured against.

    python -m bench.baselines.naive_bridge --host 127.0.0.1 --port 1883 --topic 'city/v1/dev/+/reading' \\
        --influx-url http://127.0.0.1:8086 --db city --qos 1 --client-id naive-bridge
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import threading
import time
from types import FrameType

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

log = logging.getLogger("naive_bridge")

BATCH_LINES = 5_000
BATCH_SECONDS = 1.0


class NaiveBridge:
    """Subscribe, convert each JSON reading to one line, write batches to InfluxDB."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.http = httpx.Client(base_url=args.influx_url, timeout=30.0)
        self.lock = threading.Lock()
        self.lines: list[str] = []
        self.last_flush = time.monotonic()
        self.stopping = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=args.client_id, protocol=mqtt.MQTTv5)
        self.client.on_connect = self.on_connect
        self.client.on_message = self.on_message
        self.client.on_subscribe = self.on_subscribe

    def on_connect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        log.info("connected (session present: %s)", flags.session_present)
        client.subscribe(self.args.topic, qos=self.args.qos)

    def on_subscribe(
        self,
        client: mqtt.Client,
        userdata: object,
        mid: int,
        reason_codes: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        log.info("subscribed to %s (QoS %d)", self.args.topic, self.args.qos)

    def on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        data = json.loads(msg.payload)
        fields = ",".join(f"{key}={value}" for key, value in data["m"].items())
        line = f"{self.args.measurement},device={data['dev']} {fields} {data['ts']}"
        with self.lock:
            self.lines.append(line)
            full = len(self.lines) >= BATCH_LINES
        if full:
            self.flush()

    def flush(self) -> None:
        with self.lock:
            lines, self.lines = self.lines, []
            self.last_flush = time.monotonic()
        if not lines:
            return
        response = self.http.post("/write", params={"db": self.args.db, "precision": "ms"}, content="\n".join(lines))
        if response.status_code != 204:
            log.error("write failed: %s %s", response.status_code, response.text)

    def run(self) -> None:
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = 3600
        self.client.connect(self.args.host, self.args.port, keepalive=30, clean_start=False, properties=properties)
        self.client.loop_start()
        while not self.stopping.wait(0.1):
            if time.monotonic() - self.last_flush >= BATCH_SECONDS:
                self.flush()
        self.client.disconnect()
        self.client.loop_stop()
        self.flush()
        self.http.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1883)
    parser.add_argument("--topic", default="city/v1/dev/+/reading")
    parser.add_argument("--influx-url", default="http://127.0.0.1:8086")
    parser.add_argument("--db", default="city")
    parser.add_argument("--measurement", default="readings")
    parser.add_argument("--qos", type=int, choices=(0, 1), default=1)
    parser.add_argument("--client-id", default="naive-bridge")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    bridge = NaiveBridge(args)

    def _stop(signum: int, frame: FrameType | None) -> None:
        bridge.stopping.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    bridge.run()


if __name__ == "__main__":
    main()
