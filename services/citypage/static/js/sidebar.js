// The side panels: open quality flags (from /v1/quality where the API serves it) and the open-data downloads
// listed in the DCAT-AP catalogue.

import { ApiError, getJson } from "./api.js";
import { h, formatTime } from "./dom.js";

const NOT_RUNNING = "Quality checks not running.";

function flagText(flag) {
  const what = flag.check || flag.kind || flag.rule || flag.reason || flag.type || "flag";
  const where = flag.device || flag.facility || flag.district || flag.subject || flag.series || "";
  const detail = flag.detail || flag.message || flag.description || "";
  const since = flag.since || flag.opened || flag.start || flag.raised || flag.time;
  return [what, where && `at ${where}`, detail && `: ${detail}`, since && ` (since ${formatTime(since)})`].filter(Boolean).join(" ");
}

export async function showQuality(root, config) {
  if (!config.routes.quality) {
    root.replaceChildren(h("p", { dataset: { quality: "not-running" } }, NOT_RUNNING));
    return;
  }
  try {
    const body = await getJson("/v1/quality");
    const flags = Array.isArray(body) ? body : body.items || body.flags || [];
    const open = flags.filter((f) => !f.state || f.state === "open");
    root.replaceChildren(
      open.length
        ? h("ul", { dataset: { quality: "flags" } }, open.slice(0, 100).map((f) => h("li", {}, flagText(f))))
        : h("p", { dataset: { quality: "none" } }, "No open quality flags."),
    );
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) {
      root.replaceChildren(h("p", { dataset: { quality: "not-running" } }, NOT_RUNNING));
    } else if (error instanceof ApiError && (error.status === 401 || error.status === 403)) {
      root.replaceChildren(h("p", { class: "note" }, "Enter a planner or operator key to see the quality flags."));
    } else {
      root.replaceChildren(h("p", { class: "bad" }, `Quality flags unavailable: ${error.message}`));
    }
  }
}

function text(value) {
  if (!value) return "";
  if (Array.isArray(value)) return text(value[0]);
  return typeof value === "object" ? value["@value"] || "" : String(value);
}

function ids(value) {
  if (!value) return [];
  return (Array.isArray(value) ? value : [value]).map((v) => v["@id"]);
}

const FORMATS = { "text/csv": "CSV", "application/geo+json": "GeoJSON", "application/senml+json": "SenML JSON" };

export async function showOpenData(root) {
  let graph;
  try {
    const response = await fetch("/v1/catalogue", { headers: { Accept: "application/ld+json" } });
    if (!response.ok) throw new Error(`the catalogue answered ${response.status}`);
    graph = (await response.json())["@graph"] || [];
  } catch (error) {
    root.replaceChildren(h("li", { class: "bad" }, `Open-data catalogue unavailable: ${error.message}`));
    return;
  }
  const byId = new Map(graph.map((node) => [node["@id"], node]));
  const datasets = graph.filter((node) => node["@type"] === "dcat:Dataset");
  datasets.sort((a, b) => text(a["dct:title"]).localeCompare(text(b["dct:title"])));
  root.replaceChildren(
    ...datasets.map((dataset) => {
      const title = text(dataset["dct:title"]);
      const links = ids(dataset["dcat:distribution"])
        .map((id) => byId.get(id))
        .filter(Boolean)
        .map((dist) => {
          const url = new URL(ids(dist["dcat:downloadURL"])[0], window.location.href);
          const media = (ids(dist["dcat:mediaType"])[0] || "").split("/media-types/")[1] || "";
          const format = FORMATS[media] || media || "file";
          return h("a", { href: url.pathname + url.search, "aria-label": `Download ${title} as ${format}` }, format);
        });
      const parts = [];
      links.forEach((link, i) => { if (i) parts.push(" · "); parts.push(link); });
      return h("li", { dataset: { dataset: text(dataset["dct:identifier"]) || title } }, `${title}: `, ...parts);
    }),
  );
}
