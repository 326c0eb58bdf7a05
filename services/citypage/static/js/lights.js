// Street lights an operator dims from the page: POST the command, then follow its record until the device's ack
// (or a rejection, or the expiry) arrives.

import { request, getJson } from "./api.js";
import { h, formatTime } from "./dom.js";

const POLL_MS = 400;

async function follow(location, output) {
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    const record = await getJson(location);
    if (record.state !== "sent") return record;
    output.textContent = `Sent at ${formatTime(record.sent)}, waiting for the light's ack…`;
  }
}

export function lightControl(device, currentLevel) {
  const inputId = `dim-${device.id}`;
  const input = h("input", { id: inputId, type: "number", min: "0", max: "100", step: "1", value: String(currentLevel ?? 50) });
  const output = h("output", { class: "ack", role: "status", "aria-live": "polite", for: inputId, dataset: { state: "idle" } });
  const button = h("button", { type: "submit" }, "Dim");
  const form = h(
    "form",
    { class: "light", dataset: { light: device.id } },
    h("label", { for: inputId }, `Dim level of ${device.id} (%)`),
    input,
    button,
    output,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const level = Number(input.value);
    if (!Number.isInteger(level) || level < 0 || level > 100) {
      output.textContent = "The level must be a whole number from 0 to 100.";
      output.dataset.state = "invalid";
      return;
    }
    button.disabled = true;
    output.dataset.state = "sent";
    output.textContent = "Sending…";
    try {
      const sent = await request(`/v1/devices/${encodeURIComponent(device.id)}/commands`, {
        method: "POST",
        body: { name: "set_dim_level", args: { level } },
      });
      output.textContent = `Sent at ${formatTime(sent.body.sent)}, waiting for the light's ack…`;
      const record = await follow(sent.location || `/v1/commands/${sent.body.id}`, output);
      output.dataset.state = record.state;
      if (record.state === "acked") {
        output.textContent = `Acked by the light at ${formatTime(record.answered)}: level ${record.args.level} %`;
      } else if (record.state === "rejected") {
        output.textContent = `Rejected by the light: ${record.detail}`;
      } else {
        output.textContent = `No answer: ${record.detail || record.state}`;
      }
    } catch (error) {
      output.dataset.state = "error";
      output.textContent = `Not sent: ${error.message}`;
    } finally {
      button.disabled = false;
    }
  });
  return form;
}
