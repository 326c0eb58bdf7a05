// What the public may read of the latest readings: the environmental open datasets (as measured, per sensor),
// the last hour of them, newest reading per sensor. Planner keys read the live stream instead.

export const OPEN_METRICS = {
  pm25: "air-quality",
  no2: "air-quality",
  pm10: "air-quality",
  laeq: "noise",
  temperature: "weather",
  humidity: "weather",
  water_level: "flood-levels",
};
export const OPEN_DATASETS = { air_quality: "air-quality", noise: "noise", weather: "weather", flood_level: "flood-levels" };

const CACHE_MS = 60000;
const cache = new Map();

function parseLine(line) {
  const out = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < line.length; i += 1) {
    const c = line[i];
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') { field += '"'; i += 1; }
      else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") { out.push(field); field = ""; }
    else field += c;
  }
  out.push(field);
  return out;
}

// sensor id -> { district, facility, time, values: { metric: number } } for the newest row of each sensor.
export async function openLatest(dataset) {
  const known = cache.get(dataset);
  if (known && Date.now() - known.at < CACHE_MS) return known.sensors;
  const start = new Date(Date.now() - 3600_000).toISOString();
  const response = await fetch(`/v1/open/${dataset}.csv?start=${encodeURIComponent(start)}`, { headers: { Accept: "text/csv" } });
  if (!response.ok) throw new Error(`the open dataset ${dataset} answered ${response.status}`);
  const lines = (await response.text()).split(/\r?\n/).filter((l) => l);
  const header = parseLine(lines.shift() || "");
  const at = (name) => header.indexOf(name);
  const [time, sensor, facility, district] = ["time", "sensor", "facility", "district"].map(at);
  const metrics = header.slice(at("lon") + 1);
  const sensors = new Map();
  for (const line of lines) {
    const row = parseLine(line);
    const known = sensors.get(row[sensor]);
    if (known && known.time >= row[time]) continue;
    const values = {};
    metrics.forEach((name, i) => {
      const text = row[at("lon") + 1 + i];
      if (text !== "" && text !== undefined) values[name] = Number(text);
    });
    sensors.set(row[sensor], { district: row[district], facility: row[facility], time: row[time], values });
  }
  cache.set(dataset, { at: Date.now(), sensors });
  return sensors;
}

// district id -> mean of the sensors' newest values of ``metric``.
export async function openDistrictMeans(metric) {
  const sensors = await openLatest(OPEN_METRICS[metric]);
  const sums = new Map();
  for (const sensor of sensors.values()) {
    const value = sensor.values[metric];
    if (!Number.isFinite(value)) continue;
    const [sum, count] = sums.get(sensor.district) || [0, 0];
    sums.set(sensor.district, [sum + value, count + 1]);
  }
  return new Map([...sums].map(([district, [sum, count]]) => [district, sum / count]));
}
