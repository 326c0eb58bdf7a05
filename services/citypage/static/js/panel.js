// The details panel: a district's or a facility's latest values (kept current from the stream), a 24-hour
// sparkline per metric, device health and data completeness, and the street lights an operator may dim.

import { ApiError, atLeast, getJson, withQuery } from "./api.js";
import { h, formatNumber, formatTime, formatValue } from "./dom.js";
import { kindLabel, areaKm2 } from "./map.js";
import { sparkline } from "./sparkline.js";
import { healthSection } from "./health.js";
import { lightControl } from "./lights.js";
import { OPEN_DATASETS, openLatest } from "./opendata.js";

const DEVICE_LEVEL = new Set(["battery", "rssi", "report_interval", "message", "energy", "water_volume"]);
const DISTRICT_SPARKS = ["pm25", "no2", "laeq", "temperature", "humidity", "occupancy", "vehicle_count", "fill_level", "power", "water_level"];

function problemText(error) {
  if (error instanceof ApiError && error.status === 403) return `Not readable with this key: ${error.message}`;
  return error.message;
}

export class DetailsPanel {
  constructor(root, city, { onDistrict, onFacility }) {
    this.root = root;
    this.body = root.querySelector("#details-body");
    this.title = root.querySelector("#details-title");
    this.hint = root.querySelector("#details-hint");
    this.city = city;
    this.onDistrict = onDistrict;
    this.onFacility = onFacility;
    this.current = null;
    this.generation = 0;
  }

  reopen() {
    if (this.current) this.open(this.current.kind, this.current.id, { focus: false });
  }

  open(kind, id, { focus = true } = {}) {
    this.current = { kind, id };
    this.generation += 1;
    this.hint.hidden = true;
    this.body.replaceChildren();
    if (kind === "district") this.district(id, this.generation);
    else this.facility(id, this.generation);
    if (focus) this.root.focus({ preventScroll: true });
  }

  stale(generation) {
    return generation !== this.generation;
  }

  metricSpec(name) {
    return this.city.metrics.get(name) || { name, unit: "", kind: "float", aggregations: ["mean"] };
  }

  // Cells showing a value carry data-device (or data-district) and data-metric; the stream updates them.
  refresh() {
    if (!this.current) return;
    for (const cell of this.body.querySelectorAll("[data-metric][data-device]")) {
      const entry = this.city.latest.get(cell.dataset.device)?.get(cell.dataset.metric);
      if (entry) {
        cell.textContent = formatValue(entry.value, entry.unit, this.metricSpec(cell.dataset.metric).kind);
        const time = cell.parentElement.querySelector("[data-time]");
        if (time) time.textContent = formatTime(entry.time);
      }
    }
    for (const cell of this.body.querySelectorAll("[data-metric][data-district]")) {
      const mean = this.city.districtMean(cell.dataset.district, cell.dataset.metric);
      if (mean) cell.textContent = formatValue(mean.value, this.metricSpec(cell.dataset.metric).unit);
      const count = cell.parentElement.querySelector("[data-reporting]");
      if (mean && count) count.textContent = String(mean.devices);
    }
    const completeness = this.body.querySelector("[data-completeness]");
    if (completeness) completeness.textContent = this.completenessText(this.currentDevices());
  }

  currentDevices() {
    if (!this.current) return [];
    return this.current.kind === "district"
      ? this.city.devicesInDistrict(this.current.id)
      : this.city.devicesByFacility.get(this.current.id) || [];
  }

  completenessText(devices) {
    const reporting = devices.filter((d) => this.city.latest.has(d.id)).length;
    return `${reporting} of ${devices.length} devices have reported within the latest window`;
  }

  async loadLatest(params, generation) {
    if (!atLeast(this.city.role, "planner")) return;
    try {
      const answer = await getJson(withQuery("/v1/latest", params));
      if (!this.stale(generation)) this.city.merge(answer.items);
    } catch (error) {
      if (!this.stale(generation)) this.body.prepend(h("p", { class: "bad" }, problemText(error)));
    }
  }

  sparks(scope, id, metrics, generation) {
    const box = h("div", { class: "sparks" });
    for (const name of metrics) {
      const spec = this.metricSpec(name);
      const agg = spec.aggregations.includes("mean") ? "mean" : spec.aggregations[0];
      const caption = h("p", {}, "loading…");
      const card = h("figure", { class: "spark", dataset: { spark: name } }, h("h4", {}, `${name} (${spec.unit || "–"})`), caption);
      box.append(card);
      const params = { [scope]: id, metric: name };
      if (agg) params.agg = agg;
      getJson(withQuery("/v1/history", params))
        .then((answer) => {
          if (this.stale(generation)) return;
          const { svg, numeric } = sparkline(answer.points || []);
          card.insertBefore(svg, caption);
          if (numeric.length < 2) {
            caption.textContent = "no data in the last 24 hours";
            return;
          }
          const values = numeric.map((p) => p.v);
          const lo = formatNumber(Math.min(...values));
          const hi = formatNumber(Math.max(...values));
          caption.textContent = `24 h: ${lo} to ${hi}, ${numeric.length} points`;
          svg.setAttribute("role", "img");
          svg.removeAttribute("aria-hidden");
          svg.setAttribute("aria-label", `${name} over the last 24 hours, from ${lo} to ${hi} ${spec.unit}`);
          card.dataset.points = String(numeric.length);
        })
        .catch((error) => {
          if (!this.stale(generation)) caption.textContent = problemText(error);
        });
    }
    return box;
  }

  async health(params, devices, generation) {
    if (!atLeast(this.city.role, "operator")) return null;
    return healthSection(params, devices, () => this.stale(generation));
  }

  // The public's latest values: the open environmental datasets' newest reading per sensor in the last hour.
  async openValues(devices, generation) {
    const sensors = devices.filter((d) => OPEN_DATASETS[d.type]);
    if (!sensors.length) return h("p", { class: "note" }, "No open data from this facility's devices.");
    const rows = [];
    try {
      for (const device of sensors) {
        const found = (await openLatest(OPEN_DATASETS[device.type])).get(device.id);
        if (this.stale(generation)) return h("p");
        for (const [metric, value] of Object.entries(found?.values || {})) {
          rows.push(
            h(
              "tr",
              {},
              h("td", {}, device.id),
              h("th", { scope: "row" }, metric),
              h("td", { class: "num", dataset: { open: metric } }, formatValue(value, this.metricSpec(metric).unit, this.metricSpec(metric).kind)),
              h("td", {}, formatTime(found.time)),
            ),
          );
        }
      }
    } catch (error) {
      return h("p", { class: "bad" }, `Open data unavailable: ${error.message}`);
    }
    if (!rows.length) return h("p", { class: "note" }, "No open data from this facility in the last hour.");
    return h(
      "div",
      {},
      h("h3", {}, "Open data: newest readings of the last hour"),
      h("table", {}, h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "sensor"), h("th", { scope: "col" }, "metric"), h("th", { scope: "col" }, "value"), h("th", { scope: "col" }, "time"))), h("tbody", {}, rows)),
    );
  }

  async district(id, generation) {
    const city = this.city;
    const feature = city.districts.get(id);
    const props = feature.properties;
    const area = areaKm2(feature.geometry.coordinates[0]);
    this.title.textContent = `District ${props.name}`;
    const devices = city.devicesInDistrict(id);
    this.body.append(
      h("p", {}, `Population ${props.population.toLocaleString("en")} · ${formatNumber(area)} km² · ${formatNumber(props.population / area)} people/km² · ${props.facilities} facilities · ${props.devices} devices`),
    );
    const planner = atLeast(city.role, "planner");
    if (!planner) {
      this.body.append(h("p", { class: "note" }, "Enter a planner or operator key for latest values, history and device health."));
    } else {
      await this.loadLatest({ district: id }, generation);
      if (this.stale(generation)) return;
      const metrics = [...new Set(devices.flatMap((d) => d.metrics))].filter((m) => !DEVICE_LEVEL.has(m) && this.metricSpec(m).kind !== "string").sort();
      const rows = metrics.map((m) => {
        const mean = city.districtMean(id, m);
        return h(
          "tr",
          {},
          h("th", { scope: "row" }, m),
          h("td", { class: "num", dataset: { district: id, metric: m } }, mean ? formatValue(mean.value, this.metricSpec(m).unit) : "–"),
          h("td", { class: "num", dataset: { reporting: "" } }, mean ? String(mean.devices) : "0"),
        );
      });
      this.body.append(
        h("h3", {}, "Latest values (mean over the district's devices)"),
        h("table", {}, h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "metric"), h("th", { scope: "col" }, "mean"), h("th", { scope: "col" }, "devices reporting"))), h("tbody", {}, rows)),
        h("p", { dataset: { completeness: "" } }, this.completenessText(devices)),
        h("h3", {}, "Last 24 hours"),
        this.sparks("district", id, DISTRICT_SPARKS.filter((m) => metrics.includes(m)).slice(0, 6), generation),
      );
      const health = await this.health({ district: id }, devices, generation);
      if (health && !this.stale(generation)) this.body.append(health);
    }
    const facilities = city.facilitiesByDistrict.get(id) || [];
    this.body.append(
      h("h3", {}, `Facilities (${facilities.length})`),
      h("ul", { class: "facility-list" }, facilities.map((f) => h("li", {}, h("button", { type: "button", onclick: () => this.onFacility(f.id) }, `${kindLabel(f.kind)}: ${f.name}`)))),
    );
  }

  async facility(id, generation) {
    const city = this.city;
    const facility = city.facilities.get(id);
    const devices = city.devicesByFacility.get(id) || [];
    this.title.textContent = facility.name;
    const district = city.districts.get(facility.district_id);
    this.body.append(
      h(
        "p",
        {},
        `${kindLabel(facility.kind)} in `,
        h("button", { type: "button", onclick: () => this.onDistrict(facility.district_id) }, district ? district.properties.name : facility.district_id),
        ` · ${devices.length} devices`,
      ),
    );
    const planner = atLeast(city.role, "planner");
    if (!planner) {
      const open = await this.openValues(devices, generation);
      if (this.stale(generation)) return;
      this.body.append(
        h("ul", {}, devices.map((d) => h("li", {}, `${d.id} (${d.type.replace(/_/g, " ")})`))),
        open,
        h("p", { class: "note" }, "Enter a planner or operator key for latest values, history and device health."),
      );
      return;
    }
    await this.loadLatest({ facility: id }, generation);
    if (this.stale(generation)) return;
    const rows = [];
    for (const device of devices) {
      for (const metric of device.metrics) {
        const entry = city.latest.get(device.id)?.get(metric);
        if (DEVICE_LEVEL.has(metric)) continue; // battery, signal strength, interval: device health, not the city
        rows.push(
          h(
            "tr",
            {},
            h("td", {}, device.id),
            h("th", { scope: "row" }, metric),
            h("td", { class: "num", dataset: { device: device.id, metric } }, entry ? formatValue(entry.value, entry.unit, this.metricSpec(metric).kind) : "–"),
            h("td", { dataset: { time: "" } }, entry ? formatTime(entry.time) : "–"),
          ),
        );
      }
    }
    const metrics = [...new Set(devices.flatMap((d) => d.metrics))].filter((m) => !DEVICE_LEVEL.has(m) && this.metricSpec(m).kind !== "string");
    this.body.append(
      h("h3", {}, "Last 24 hours"),
      this.sparks("facility", id, metrics.slice(0, 8), generation),
      h("p", { dataset: { completeness: "" } }, this.completenessText(devices)),
      h("h3", {}, "Latest values"),
      h("table", {}, h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "device"), h("th", { scope: "col" }, "metric"), h("th", { scope: "col" }, "value"), h("th", { scope: "col" }, "time"))), h("tbody", {}, rows)),
    );
    const health = await this.health({ district: facility.district_id }, devices, generation);
    if (this.stale(generation)) return;
    if (health) this.body.append(health);
    const lights = devices.filter((d) => d.type === "street_light");
    if (lights.length && atLeast(city.role, "operator")) {
      this.body.append(
        h("h3", {}, "Street lights"),
        ...lights.map((d) => lightControl(d, city.latest.get(d.id)?.get("dim_level")?.value)),
      );
    }
  }
}
