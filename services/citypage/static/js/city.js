// What the page knows of the city: the model from the catalogue, the caller's role, the latest values by device.

export class City {
  constructor() {
    this.role = "public";
    this.districts = new Map();
    this.facilities = new Map();
    this.devices = new Map();
    this.metrics = new Map();
    this.devicesByFacility = new Map();
    this.facilitiesByDistrict = new Map();
    this.latest = new Map();
  }

  load(features, facilities, devices, metrics) {
    this.districts = new Map(features.map((f) => [f.id, f]));
    this.facilities = new Map(facilities.map((f) => [f.id, f]));
    this.devices = new Map(devices.map((d) => [d.id, d]));
    this.metrics = new Map(metrics.map((m) => [m.name, m]));
    this.devicesByFacility = new Map();
    for (const device of devices) {
      if (!this.devicesByFacility.has(device.facility_id)) this.devicesByFacility.set(device.facility_id, []);
      this.devicesByFacility.get(device.facility_id).push(device);
    }
    this.facilitiesByDistrict = new Map();
    for (const facility of facilities) {
      if (!this.facilitiesByDistrict.has(facility.district_id)) this.facilitiesByDistrict.set(facility.district_id, []);
      this.facilitiesByDistrict.get(facility.district_id).push(facility);
    }
  }

  devicesInDistrict(id) {
    return [...this.devices.values()].filter((d) => d.district_id === id);
  }

  merge(items) {
    for (const item of items) {
      if (!this.latest.has(item.device)) this.latest.set(item.device, new Map());
      const known = this.latest.get(item.device).get(item.metric);
      if (!known || known.time <= item.time) this.latest.get(item.device).set(item.metric, item);
    }
  }

  districtMean(id, metric) {
    let sum = 0;
    let count = 0;
    for (const device of this.devicesInDistrict(id)) {
      const entry = this.latest.get(device.id)?.get(metric);
      const value = typeof entry?.value === "boolean" ? Number(entry.value) : entry?.value;
      if (typeof value === "number" && Number.isFinite(value)) {
        sum += value;
        count += 1;
      }
    }
    return count ? { value: sum / count, devices: count } : null;
  }
}
