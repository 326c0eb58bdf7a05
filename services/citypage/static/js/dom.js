// Small DOM helpers and value formatting shared by the page's modules.

export function h(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  node.append(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}

export function formatNumber(value) {
  if (!Number.isFinite(value)) return "–";
  if (value === 0) return "0";
  const magnitude = Math.abs(value);
  if (magnitude >= 1000) return Math.round(value).toLocaleString("en");
  if (magnitude >= 100) return value.toFixed(0);
  if (magnitude >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

// ``kind`` is the metric's type in the registry: an int metric's values are whole numbers ("80 %", not "80.0 %").
export function formatValue(value, unit, kind = "float") {
  if (typeof value === "boolean") return value ? "yes" : "no";
  if (typeof value === "number") {
    const text = kind === "int" && Number.isInteger(value) ? value.toLocaleString("en") : formatNumber(value);
    return unit ? `${text} ${unit}` : text;
  }
  return String(value);
}

export function formatTime(iso) {
  if (!iso) return "–";
  const date = new Date(iso);
  return date.toLocaleString("en-GB", { hour: "2-digit", minute: "2-digit", second: "2-digit", day: "2-digit", month: "short" });
}

export function percent(fraction) {
  return `${(fraction * 100).toFixed(1)} %`;
}
