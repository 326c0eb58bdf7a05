// The map: districts drawn as SVG from the city model's GeoJSON polygons, coloured by the chosen indicator with a
// legend of five equal classes; facilities as markers coloured by kind. No tiles: it works offline.

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 1000;
const PAD = 16;
export const CLASSES = ["#ffffcc", "#ffeda0", "#fed976", "#feb24c", "#fd8d3c"];
export const NO_DATA = "#e4e6e9";
export const KIND_COLOURS = {
  school: "#1f5fbf",
  hospital: "#b3261e",
  nursing_home: "#7b3fa0",
  library: "#0f7b6c",
  public_building: "#5b5b5b",
  street_segment: "#8a4b08",
  park: "#2e7d32",
  car_park: "#004d73",
};

function element(name, attributes = {}) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  return node;
}

export function kindLabel(kind) {
  return kind.replace(/_/g, " ");
}

// Area of a lon/lat ring in km² (spherical excess would be overkill for a city: an equirectangular shoelace).
export function areaKm2(ring) {
  const lat0 = (ring.reduce((s, p) => s + p[1], 0) / ring.length) * (Math.PI / 180);
  const kx = 111.32 * Math.cos(lat0);
  const ky = 110.57;
  let sum = 0;
  for (let i = 0; i < ring.length; i += 1) {
    const [x1, y1] = ring[i];
    const [x2, y2] = ring[(i + 1) % ring.length];
    sum += x1 * kx * (y2 * ky) - x2 * kx * (y1 * ky);
  }
  return Math.abs(sum) / 2;
}

export class CityMap {
  constructor(svg, { onDistrict, onFacility }) {
    this.svg = svg;
    this.onDistrict = onDistrict;
    this.onFacility = onFacility;
    this.paths = new Map();
    this.markers = new Map();
    this.names = new Map();
  }

  draw(features, facilities) {
    const rings = features.map((f) => f.geometry.coordinates[0]);
    const all = rings.flat().concat(facilities.map((f) => [f.location.lon, f.location.lat]));
    const lons = all.map((p) => p[0]);
    const lats = all.map((p) => p[1]);
    const minLon = Math.min(...lons);
    const maxLon = Math.max(...lons);
    const minLat = Math.min(...lats);
    const maxLat = Math.max(...lats);
    const kx = Math.cos((((minLat + maxLat) / 2) * Math.PI) / 180);
    const scale = (WIDTH - 2 * PAD) / Math.max(1e-9, (maxLon - minLon) * kx);
    const height = Math.round((maxLat - minLat) * scale + 2 * PAD);
    this.project = ([lon, lat]) => [PAD + (lon - minLon) * kx * scale, PAD + (maxLat - lat) * scale];
    this.svg.setAttribute("viewBox", `0 0 ${WIDTH} ${height}`);
    // Markers and labels keep their size on screen whatever the city's shape (a tall map is drawn smaller).
    const unit = Math.max(WIDTH, height) / 1000;
    this.svg.replaceChildren();
    const districts = element("g", { class: "districts" });
    const labels = element("g", { class: "labels", "aria-hidden": "true" });
    const markers = element("g", { class: "facilities" });
    for (const feature of features) {
      const ring = feature.geometry.coordinates[0];
      const d = ring.map((p, i) => `${i ? "L" : "M"}${this.project(p).map((v) => v.toFixed(1)).join(",")}`).join("") + "Z";
      const name = feature.properties.name;
      const path = element("path", {
        d,
        class: "district",
        tabindex: "0",
        role: "button",
        "data-district": feature.id,
        "aria-label": `District ${name}`,
        fill: NO_DATA,
      });
      const title = element("title");
      title.textContent = name;
      path.append(title);
      path.addEventListener("click", () => this.onDistrict(feature.id));
      path.addEventListener("keydown", (event) => {
        if (event.key === "Enter" || event.key === " ") {
          event.preventDefault();
          this.onDistrict(feature.id);
        }
      });
      districts.append(path);
      this.paths.set(feature.id, path);
      this.names.set(feature.id, name);
      const [cx, cy] = this.project([feature.properties.centre.lon, feature.properties.centre.lat]);
      const label = element("text", {
        x: cx.toFixed(1),
        y: cy.toFixed(1),
        class: "district-label",
        "text-anchor": "middle",
        "font-size": (15 * unit).toFixed(1),
      });
      label.textContent = name;
      labels.append(label);
    }
    for (const facility of facilities) {
      const [x, y] = this.project([facility.location.lon, facility.location.lat]);
      const marker = element("circle", {
        cx: x.toFixed(1),
        cy: y.toFixed(1),
        r: (6 * unit).toFixed(1),
        class: `facility kind-${facility.kind}`,
        fill: KIND_COLOURS[facility.kind] || "#333",
        "data-facility": facility.id,
      });
      const title = element("title");
      title.textContent = `${facility.name} (${kindLabel(facility.kind)})`;
      marker.append(title);
      marker.addEventListener("click", () => this.onFacility(facility.id));
      markers.append(marker);
      this.markers.set(facility.id, marker);
    }
    this.svg.append(districts, markers, labels);
  }

  // values: Map district id -> number (missing: no data). Returns the legend's classes.
  colour(values, format) {
    const numbers = [...values.values()].filter((v) => Number.isFinite(v));
    const lo = numbers.length ? Math.min(...numbers) : 0;
    const hi = numbers.length ? Math.max(...numbers) : 0;
    const step = (hi - lo) / CLASSES.length || 1;
    const classOf = (v) => Math.min(CLASSES.length - 1, Math.floor((v - lo) / step));
    for (const [id, path] of this.paths) {
      const value = values.get(id);
      const known = Number.isFinite(value);
      path.setAttribute("fill", known ? CLASSES[classOf(value)] : NO_DATA);
      path.setAttribute("aria-label", `District ${this.names.get(id)}: ${known ? format(value) : "no data"}`);
      path.dataset.value = known ? String(value) : "";
    }
    if (!numbers.length) return [];
    if (hi === lo) return [{ colour: CLASSES[0], text: format(lo) }];
    return CLASSES.map((colour, i) => ({
      colour,
      text: `${format(lo + i * step)} – ${format(i === CLASSES.length - 1 ? hi : lo + (i + 1) * step)}`,
    }));
  }

  select(kind, id) {
    for (const node of this.svg.querySelectorAll(".selected")) node.classList.remove("selected");
    const node = kind === "district" ? this.paths.get(id) : this.markers.get(id);
    if (node) node.classList.add("selected");
  }
}
