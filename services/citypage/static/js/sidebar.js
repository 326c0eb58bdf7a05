// The side panels: open quality flags (from /v1/quality where the API serves it) and the open-data downloads
// listed in the DCAT-AP catalogue.

import { ApiError, atLeast, getJson } from "./api.js";
import { h, formatTime } from "./dom.js";

const NOT_RUNNING = "Quality checks not running.";

function flagItem(flag, onFacility) {
  const what = flag.metric ? `${flag.kind} (${flag.metric})` : flag.kind;
  const label = `${what} at ${flag.device}: ${flag.reason}, since ${formatTime(flag.start)}`;
  if (!flag.facility || !onFacility) return h("li", {}, label);
  return h("li", {}, h("button", { type: "button", class: "flag", onclick: () => onFacility(flag.facility) }, label));
}

// Open flags from /v1/quality (planner and above) where the API serves it; "not running" where it does not.
export async function showQuality(root, config, role, onFacility) {
  if (!config.routes.quality) {
    root.replaceChildren(h("p", { dataset: { quality: "not-running" } }, NOT_RUNNING));
    return;
  }
  if (!atLeast(role, "planner")) {
    root.replaceChildren(h("p", { class: "note", dataset: { quality: "key" } }, "Enter a planner or operator key to see the quality flags."));
    return;
  }
  try {
    const body = await getJson("/v1/quality?state=open&limit=100");
    const flags = body.items;
    const more = body.next_cursor ? h("p", { class: "note" }, "The 100 newest are shown.") : null;
    root.replaceChildren(
      flags.length
        ? h("ul", { dataset: { quality: "flags" } }, flags.map((f) => flagItem(f, onFacility)))
        : h("p", { dataset: { quality: "none" } }, "No open quality flags."),
      ...(more ? [more] : []),
    );
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) {
      root.replaceChildren(h("p", { dataset: { quality: "not-running" } }, NOT_RUNNING));
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
