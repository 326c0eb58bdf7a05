// Device health for the details panel (operator and above): online devices and the share of readings received,
// merged across gateway replicas by the API (/v1/health/devices).

import { ApiError, allPages, withQuery } from "./api.js";
import { h, formatTime, percent } from "./dom.js";

function problemText(error) {
  if (error instanceof ApiError && error.status === 403) return `Not readable with this key: ${error.message}`;
  return error.message;
}

function table(rows) {
  const head = ["device", "online", "last seen", "received"].map((name) => h("th", { scope: "col" }, name));
  return h(
    "table",
    {},
    h("caption", { class: "note" }, "Health per device"),
    h("thead", {}, h("tr", {}, head)),
    h(
      "tbody",
      {},
      rows.slice(0, 50).map((r) =>
        h(
          "tr",
          {},
          h("td", {}, r.device),
          h("td", { class: r.online ? "ok" : "bad" }, r.online === null ? "unknown" : r.online ? "online" : "offline"),
          h("td", {}, formatTime(r.last_seen)),
          h("td", { class: "num" }, typeof r.loss === "number" ? percent(1 - r.loss) : "–"),
        ),
      ),
    ),
  );
}

// The section at once (it fills in when the answer arrives); ``stale()`` says the panel moved on meanwhile.
export function healthSection(params, devices, stale) {
  const title = () => h("h3", {}, "Device health");
  const section = h("div", {}, title(), h("p", { class: "note" }, "loading…"));
  allPages(withQuery("/v1/health/devices", params))
    .then((items) => {
      if (stale()) return;
      const wanted = new Set(devices.map((d) => d.id));
      const rows = items.filter((item) => wanted.has(item.device));
      const online = rows.filter((r) => r.online).length;
      const losses = rows.map((r) => r.loss).filter((v) => typeof v === "number");
      const received = losses.length ? 1 - losses.reduce((a, b) => a + b, 0) / losses.length : null;
      const summary = h(
        "p",
        { dataset: { health: "summary" } },
        `${online} of ${devices.length} devices online; ${rows.length} reported by the gateway`,
        received === null ? "" : `; data completeness ${percent(received)} of readings received`,
      );
      const none = h("p", { class: "note" }, "No gateway has reported on these devices yet.");
      section.replaceChildren(title(), summary, rows.length ? table(rows) : none);
    })
    .catch((error) => {
      if (!stale()) section.replaceChildren(title(), h("p", { class: "bad" }, problemText(error)));
    });
  return section;
}
