// A 24-hour sparkline: an SVG path over the history route's points, with its range as text.

const SVG = "http://www.w3.org/2000/svg";

export function sparkline(points, { width = 200, height = 40 } = {}) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("aria-hidden", "true");
  const numeric = points
    .map((p) => ({ t: Date.parse(p.time), v: typeof p.value === "boolean" ? Number(p.value) : p.value }))
    .filter((p) => typeof p.v === "number" && Number.isFinite(p.v));
  if (numeric.length < 2) return { svg, numeric };
  const t0 = numeric[0].t;
  const t1 = numeric[numeric.length - 1].t;
  let lo = Math.min(...numeric.map((p) => p.v));
  let hi = Math.max(...numeric.map((p) => p.v));
  if (hi === lo) { hi += 1; lo -= 1; }
  const x = (t) => ((t - t0) / Math.max(1, t1 - t0)) * width;
  const y = (v) => height - 2 - ((v - lo) / (hi - lo)) * (height - 4);
  const d = numeric.map((p, i) => `${i ? "L" : "M"}${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join("");
  const path = document.createElementNS(SVG, "path");
  path.setAttribute("d", d);
  svg.append(path);
  return { svg, numeric };
}
