// Latest values as Server-Sent Events from /v1/stream, read with fetch (EventSource cannot send a key), and the
// live indicator: "live" while bytes arrive (values or the API's keep-alive comments), "stale" once nothing has
// arrived for longer than the keep-alive interval allows, or while reconnecting.

import { authHeaders } from "./api.js";

function sleep(ms, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => { clearTimeout(timer); resolve(); }, { once: true });
  });
}

export class LiveStream {
  constructor({ onValues, onState, staleAfterMs }) {
    this.onValues = onValues;
    this.onState = onState;
    this.staleAfterMs = staleAfterMs;
    this.state = "off";
    this.lastAt = 0;
    this.controller = null;
    this.timer = null;
  }

  setState(state) {
    if (state !== this.state) {
      this.state = state;
      this.onState(state, this.lastAt);
    }
  }

  start() {
    this.stop();
    this.controller = new AbortController();
    this.timer = setInterval(() => this.check(), 1000);
    this.run(this.controller.signal);
  }

  stop() {
    if (this.controller) this.controller.abort();
    if (this.timer) clearInterval(this.timer);
    this.controller = null;
    this.timer = null;
    this.setState("off");
  }

  check() {
    if (this.state === "live" && Date.now() - this.lastAt > this.staleAfterMs) this.setState("stale");
    else if (this.state === "stale") this.onState("stale", this.lastAt);
  }

  async run(signal) {
    let delay = 1000;
    while (!signal.aborted) {
      this.setState(this.lastAt ? "stale" : "connecting");
      try {
        const response = await fetch("/v1/stream", {
          headers: { Accept: "text/event-stream", ...authHeaders() },
          cache: "no-store",
          signal,
        });
        if (!response.ok) throw new Error(`the stream answered ${response.status}`);
        await this.read(response.body, signal);
        delay = 1000;
      } catch (error) {
        if (signal.aborted) return;
      }
      if (signal.aborted) return;
      this.setState("stale");
      await sleep(delay, signal);
      delay = Math.min(delay * 2, 30000);
    }
  }

  async read(body, signal) {
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    signal.addEventListener("abort", () => reader.cancel().catch(() => {}), { once: true });
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      this.lastAt = Date.now();
      this.setState("live");
      buffer += value.replace(/\r\n?/g, "\n");
      const blocks = buffer.split("\n\n");
      buffer = blocks.pop();
      const values = [];
      for (const block of blocks) {
        let kind = "message";
        const data = [];
        for (const line of block.split("\n")) {
          if (line.startsWith("event:")) kind = line.slice(6).trim();
          else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
        }
        if (kind === "latest" && data.length) values.push(JSON.parse(data.join("\n")));
      }
      if (values.length) this.onValues(values);
    }
  }
}
