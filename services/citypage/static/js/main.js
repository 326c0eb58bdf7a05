// The city page: loads the city model, draws the map, follows the latest values live and wires the panels.

import { ApiError, allPages, atLeast, getJson, storeKey, storedKey } from "./api.js";
import { h, formatNumber } from "./dom.js";
import { CityMap, KIND_COLOURS, NO_DATA, areaKm2, kindLabel } from "./map.js";
import { City } from "./city.js";
import { DetailsPanel } from "./panel.js";
import { showOpenData, showQuality } from "./sidebar.js";
import { OPEN_METRICS, openDistrictMeans } from "./opendata.js";
import { LiveStream } from "./stream.js";

const LIVE_SKIP = new Set(["battery", "rssi", "report_interval", "energy", "water_volume"]);

const city = new City();
const ui = {
  live: document.getElementById("live"),
  liveText: document.getElementById("live-text"),
  role: document.getElementById("role-text"),
  keyForm: document.getElementById("key-form"),
  keyInput: document.getElementById("key-input"),
  keyForget: document.getElementById("key-forget"),
  indicator: document.getElementById("indicator"),
  indicatorNote: document.getElementById("indicator-note"),
  legend: document.getElementById("legend"),
  kinds: document.getElementById("kinds"),
  quality: document.getElementById("quality"),
  openData: document.getElementById("open-data"),
};
let config = { routes: {}, stream_keepalive_s: 15 };
const indicatorCache = new Map();
let chosenByUser = false;

const map = new CityMap(document.getElementById("map"), {
  onDistrict: (id) => select("district", id),
  onFacility: (id) => select("facility", id),
});
const panel = new DetailsPanel(document.getElementById("details"), city, {
  onDistrict: (id) => select("district", id),
  onFacility: (id) => select("facility", id),
});

function select(kind, id) {
  map.select(kind, id);
  panel.open(kind, id);
}

function showLive(state, lastAt) {
  ui.live.className = `live live-${state}`;
  ui.live.dataset.state = state;
  if (state === "live") ui.liveText.textContent = "Live";
  else if (state === "connecting") ui.liveText.textContent = "Connecting…";
  else if (state === "stale") {
    const age = lastAt ? Math.round((Date.now() - lastAt) / 1000) : null;
    ui.liveText.textContent = age === null ? "Stale: the stream is not answering" : `Stale: no update for ${age} s`;
  } else ui.liveText.textContent = atLeast(city.role, "planner") ? "Not live" : "Not live: public view (a planner key shows live values)";
}

let recolourPending = false;
const stream = new LiveStream({
  onValues: (values) => {
    city.merge(values);
    if (!recolourPending) {
      recolourPending = true;
      setTimeout(() => {
        recolourPending = false;
        if (!chosenByUser) pickBestLive();
        if (ui.indicator.value.startsWith("live:")) recolour();
        panel.refresh();
      }, 250);
    }
  },
  onState: showLive,
  staleAfterMs: 1000,
});

function indicatorOptions() {
  const groups = [
    h("optgroup", { label: "City model" }, h("option", { value: "density" }, "Population density (people/km²)"), h("option", { value: "devices" }, "Devices per km²")),
  ];
  if (!atLeast(city.role, "planner")) {
    const open = Object.keys(OPEN_METRICS).filter((m) => city.metrics.has(m));
    groups.push(h("optgroup", { label: "Open data: newest reading per sensor, last hour" }, open.map((m) => h("option", { value: `open:${m}` }, `${m}: ${city.metrics.get(m).description} (${city.metrics.get(m).unit})`))));
  } else {
    const live = [...city.metrics.values()].filter((m) => (m.kind === "float" || m.kind === "int") && !LIVE_SKIP.has(m.name));
    groups.push(h("optgroup", { label: "Live: mean of the latest values" }, live.map((m) => h("option", { value: `live:${m.name}` }, `${m.name}: ${m.description} (${m.unit})`))));
    if (city.indicators.length) {
      groups.push(h("optgroup", { label: "Roll-up indicators (last 7 days)" }, city.indicators.map((i) => h("option", { value: `ind:${i.name}` }, `${i.name} (${i.unit})`))));
    }
  }
  const previous = ui.indicator.value;
  ui.indicator.replaceChildren(...groups);
  const values = [...ui.indicator.options].map((o) => o.value);
  const fallback = values.includes("live:pm25") ? "live:pm25" : "density";
  ui.indicator.value = chosenByUser && values.includes(previous) ? previous : fallback;
}

const PREFERRED = ["pm25", "no2", "laeq", "temperature", "humidity"];

// Until the user chooses, colour by the live metric that covers the most districts (PM2.5 first on a tie).
function pickBestLive() {
  const current = ui.indicator.value;
  const coverage = (metric) => [...city.districts.keys()].filter((id) => city.districtMean(id, metric)).length;
  let best = current.startsWith("live:") ? current.slice(5) : null;
  let bestCoverage = best ? coverage(best) : 0;
  for (const metric of PREFERRED) {
    if (!city.metrics.has(metric)) continue;
    const covered = coverage(metric);
    if (covered > bestCoverage) {
      best = metric;
      bestCoverage = covered;
    }
  }
  if (best && bestCoverage && `live:${best}` !== current && [...ui.indicator.options].some((o) => o.value === `live:${best}`)) {
    ui.indicator.value = `live:${best}`;
  }
}

async function indicatorValues(choice) {
  const values = new Map();
  if (choice === "density" || choice === "devices") {
    for (const [id, feature] of city.districts) {
      const area = areaKm2(feature.geometry.coordinates[0]);
      const count = choice === "density" ? feature.properties.population : feature.properties.devices;
      values.set(id, area > 0 ? count / area : NaN);
    }
    return { values, unit: choice === "density" ? "people/km²" : "devices/km²" };
  }
  if (choice.startsWith("open:")) {
    const metric = choice.slice(5);
    return { values: await openDistrictMeans(metric), unit: city.metrics.get(metric)?.unit || "" };
  }
  if (choice.startsWith("live:")) {
    const metric = choice.slice(5);
    for (const id of city.districts.keys()) {
      const mean = city.districtMean(id, metric);
      if (mean) values.set(id, mean.value);
    }
    return { values, unit: city.metrics.get(metric)?.unit || "" };
  }
  const name = choice.slice(4);
  const cached = indicatorCache.get(name);
  let answer = cached && Date.now() - cached.at < 60000 ? cached.answer : null;
  if (!answer) {
    answer = await getJson(`/v1/indicators/${encodeURIComponent(name)}?group_by=district`);
    indicatorCache.set(name, { at: Date.now(), answer });
  }
  for (const group of answer.groups) if (typeof group.value === "number") values.set(group.group, group.value);
  return { values, unit: answer.unit };
}

// The public view colours by the open air-quality data when it has any (else by population density).
async function preferOpenData() {
  try {
    if ((await openDistrictMeans("pm25")).size && !chosenByUser) {
      ui.indicator.value = "open:pm25";
      await recolour();
    }
  } catch (error) {
    ui.indicatorNote.textContent = `Open data unavailable: ${error.message}`;
  }
}

async function recolour() {
  const choice = ui.indicator.value;
  try {
    const { values, unit } = await indicatorValues(choice);
    if (ui.indicator.value !== choice) return;
    const classes = map.colour(values, (v) => `${formatNumber(v)} ${unit}`.trim());
    ui.legend.replaceChildren(
      ...classes.map((c) => h("li", {}, h("span", { class: "swatch", style: `background:${c.colour}` }), c.text)),
      h("li", {}, h("span", { class: "swatch", style: `background:${NO_DATA}` }), "no data"),
    );
    ui.indicatorNote.textContent = values.size ? "" : "No values yet for this choice.";
  } catch (error) {
    ui.indicatorNote.textContent = `Cannot colour by ${choice}: ${error.message}`;
  }
}

function kindsLegend(facilities) {
  const kinds = [...new Set(facilities.map((f) => f.kind))].sort();
  ui.kinds.replaceChildren(...kinds.map((k) => h("li", {}, h("span", { class: "kind-dot", style: `background:${KIND_COLOURS[k] || "#333"}` }), kindLabel(k))));
}

async function identify() {
  if (!storedKey()) return { role: "public", districts: [] };
  try {
    return await getJson("/page/whoami");
  } catch (error) {
    storeKey(null);
    ui.role.classList.add("role-error");
    ui.role.textContent = error instanceof ApiError && error.status === 401 ? `Key refused: ${error.message}. Public view.` : `Cannot check the key: ${error.message}`;
    return { role: "public", districts: [] };
  }
}

async function start() {
  stream.stop();
  const who = await identify();
  city.role = who.role;
  if (who.role !== "public" || !ui.role.classList.contains("role-error")) {
    ui.role.classList.remove("role-error");
    const scope = who.districts.length ? ` (districts: ${who.districts.join(", ")})` : "";
    ui.role.textContent = who.role === "public" ? "Public view" : `Signed in as ${who.role}${scope}`;
  }
  ui.keyInput.value = "";
  const planner = atLeast(city.role, "planner");
  const [features, facilities, devices, metrics, indicators] = await Promise.all([
    allPages("/v1/districts?format=geojson", "features"),
    allPages("/v1/facilities"),
    allPages("/v1/devices"),
    allPages("/v1/metrics"),
    planner ? getJson("/v1/indicators").then((a) => a.items) : Promise.resolve([]),
  ]);
  city.load(features, facilities, devices, metrics);
  city.indicators = indicators;
  city.latest = new Map();
  map.draw(features, facilities);
  kindsLegend(facilities);
  indicatorOptions();
  await recolour();
  if (!planner && !chosenByUser) await preferOpenData();
  showQuality(ui.quality, config, city.role, (id) => select("facility", id));
  panel.reopen();
  if (planner) stream.start();
  else showLive("off", 0);
}

ui.indicator.addEventListener("change", () => {
  chosenByUser = true;
  recolour();
});
ui.keyForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const key = ui.keyInput.value.trim();
  if (!key) return;
  storeKey(key);
  ui.role.classList.remove("role-error");
  start();
});
ui.keyForget.addEventListener("click", () => {
  storeKey(null);
  ui.role.classList.remove("role-error");
  start();
});

// A link of the form /#key=sck_... (smartcity up prints one on first start) signs the tab in: the fragment never
// reaches a server; the key moves to sessionStorage and the address bar loses it.
function keyFromAddress() {
  const match = window.location.hash.match(/^#key=(sck_[A-Za-z0-9_-]+)$/);
  if (!match) return;
  storeKey(match[1]);
  history.replaceState(null, "", window.location.pathname + window.location.search);
}

async function boot() {
  keyFromAddress();
  config = await getJson("/page/config.json");
  stream.staleAfterMs = Math.max(5, config.stream_keepalive_s * 2) * 1000;
  showOpenData(ui.openData);
  await start();
  setInterval(() => showQuality(ui.quality, config, city.role, (id) => select("facility", id)), 30000);
  document.body.dataset.ready = "true";
}

boot().catch((error) => {
  document.getElementById("details-hint").textContent = `The page could not load the city: ${error.message}`;
});
