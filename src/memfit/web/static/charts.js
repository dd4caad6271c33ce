// The charts, inline SVG: memory against context length or batch size (stacked areas) and the weights at each
// precision (bars).
import { gpuBody } from "./fit.js";
import { limitBytes } from "./render.js";
import { $, GB, api, color, el, int, shortSize, size, state, svg } from "./util.js";

// a limit far above the data would squash it into the bottom of the chart: clamp, and say so
const CLAMP = 2.5;

function niceStep(max, n) {
  const raw = max / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * mag >= raw) return m * mag;
  return 10 * mag;
}
function stackedAreas(g, c, names, px, py) {
  const xs = c.points;
  const base = xs.map(() => 0);
  names.forEach((name, i) => {
    const vals = c.series[name];
    const upper = vals.map((v, j) => base[j] + v);
    const pts = xs.map((x, j) => `${px(x).toFixed(1)},${py(upper[j]).toFixed(1)}`);
    const back = xs.map((x, j) => `${px(x).toFixed(1)},${py(base[j]).toFixed(1)}`).reverse();
    const poly = svg("polygon", { points: pts.concat(back).join(" "), fill: color(name, i), opacity: 0.85 });
    poly.append(svg("title", {}, name));
    g.append(poly);
    upper.forEach((v, j) => { base[j] = v; });
  });
}
export function drawChart(box, c, current, limit) {
  const W = 640, H = 320, L = 64, R = 16, T = 14, B = 44;
  const xs = c.points;
  const names = c.components.filter((n) => !n.startsWith("host_"));
  const totals = c.total_bytes;
  const top = Math.max(...totals);
  const clamped = limit && limit > CLAMP * top;
  const ymax = Math.max(top, clamped ? 0 : limit || 0) * 1.08 || 1;
  const log = xs.length > 1 && xs[xs.length - 1] / Math.max(xs[0], 1) >= 16;
  const fx = log ? Math.log2 : (v) => v;
  const x0 = fx(xs[0]), x1 = fx(xs[xs.length - 1]);
  const px = (v) => L + (x1 === x0 ? (W - L - R) / 2 : ((fx(v) - x0) / (x1 - x0)) * (W - L - R));
  const py = (b) => T + (H - T - B) * (1 - b / ymax);
  const g = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img",
    "aria-label": `memory against ${c.x}, ${xs[0]} to ${xs[xs.length - 1]}` });
  // grid and y ticks (GB)
  const step = niceStep(ymax / GB, 5);
  for (let v = 0; v * GB <= ymax; v += step) {
    const y = py(v * GB);
    g.append(svg("line", { x1: L, x2: W - R, y1: y, y2: y, class: "grid" }));
    g.append(svg("text", { x: L - 6, y: y + 4, "text-anchor": "end", class: "tick" },
      `${+v.toFixed(2)} GB`));
  }
  stackedAreas(g, c, names, px, py);
  // total line with hover titles
  g.append(svg("polyline", { points: xs.map((x, j) => `${px(x).toFixed(1)},${py(totals[j]).toFixed(1)}`)
    .join(" "), fill: "none", stroke: "#222", "stroke-width": 1.5 }));
  xs.forEach((x, j) => {
    const dot = svg("circle", { cx: px(x), cy: py(totals[j]), r: 3.5, class: "dot",
      "data-x": x, "data-bytes": totals[j] });
    dot.append(svg("title", {}, `${c.x} ${int(x)}: ${size(totals[j])}`));
    g.append(dot);
  });
  const what = c.per_gpu ? `one GPU's memory ${shortSize(limit)}` : `GPU memory ${shortSize(limit)}`;
  if (limit && !clamped) {
    const y = py(limit);
    g.append(svg("line", { x1: L, x2: W - R, y1: y, y2: y, stroke: "#c0392b", "stroke-width": 1.5,
      "stroke-dasharray": "6 4" }));
    g.append(svg("text", { x: W - R - 4, y: y - 5, "text-anchor": "end", class: "tick limit" }, what));
  } else if (limit) {
    g.append(svg("text", { x: W - R - 4, y: T + 10, "text-anchor": "end", class: "tick limit" },
      `${what}: above the chart (↑ ${(limit / top).toFixed(1)}× the largest point)`));
  }
  if (current && current >= xs[0] && current <= xs[xs.length - 1]) {
    g.append(svg("line", { x1: px(current), x2: px(current), y1: T, y2: H - B, class: "current" }));
  }
  // x ticks
  const every = Math.ceil(xs.length / 9);
  xs.forEach((x, j) => {
    if (j % every !== 0 && j !== xs.length - 1) return;
    g.append(svg("text", { x: px(x), y: H - B + 16, "text-anchor": "middle", class: "tick" },
      x >= 1024 && x % 1024 === 0 ? `${x / 1024}K` : String(x)));
  });
  g.append(svg("line", { x1: L, x2: W - R, y1: H - B, y2: H - B, class: "axis" }));
  g.append(svg("line", { x1: L, x2: L, y1: T, y2: H - B, class: "axis" }));
  g.append(svg("text", { x: (L + W - R) / 2, y: H - 6, "text-anchor": "middle", class: "label" },
    `${c.x === "context" ? "context length (tokens)" : "batch (sequences)"}${c.per_gpu ? ", per GPU" : ""}`));
  box.replaceChildren(g);
}
// with several GPUs each bar is one GPU's share (the weights split as fit splits them in weights mode) against one
// GPU's memory; data-bytes keeps the whole model's bytes, as the API gives them
export function drawDtypeChart(box, byDtype, current, limit, gpus = 1) {
  const rows = Object.entries(byDtype || {}).map(([name, whole]) => [name, Math.ceil(whole / gpus), whole]);
  const fig = box.closest("figure");
  fig.hidden = rows.length === 0;
  if (!rows.length) return;
  const W = 640, row = 26, L = 90, R = 150, T = 6;
  const H = T + rows.length * row + 6;
  const top = Math.max(...rows.map(([, v]) => v), limit || 0) || 1;
  const low = Math.min(...rows.map(([, v]) => v).filter((v) => v > 0), limit || Infinity);
  const log = top / low > 20;  // one bar would dwarf another: a log scale keeps every bar readable
  const floor = log ? low / 2 : 0;
  const scale = (v) => (log ? Math.log(Math.max(v, floor) / floor) / Math.log(top / floor) : v / top);
  fig.querySelector("figcaption").textContent = `Weights at each precision${gpus > 1 ? `, per GPU (÷ ${gpus})` : ""}`
    + `${log ? " (log scale)" : ""}`;
  const g = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "weights at each precision" });
  rows.forEach(([name, v, whole], i) => {
    const y = T + i * row;
    const w = (W - L - R) * scale(v);
    const over = limit && v > limit;
    g.append(svg("text", { x: L - 8, y: y + 16, "text-anchor": "end",
      class: `tick${name === current ? " strong" : ""}` }, name));
    const r = svg("rect", { x: L, y: y + 3, width: Math.max(w, 1), height: row - 8,
      fill: over ? "#e15759" : "#4e79a7", opacity: name === current ? 1 : 0.75, "data-dtype": name,
      "data-bytes": whole });
    r.append(svg("title", {}, `${name}: ${size(whole)}${gpus > 1 ? `, ${size(v)} per GPU` : ""}`));
    g.append(r);
    g.append(svg("text", { x: L + w + 6, y: y + 16, class: "tick" }, size(v)));
  });
  if (limit) {
    const x = L + (W - L - R) * scale(limit);
    g.append(svg("line", { x1: x, x2: x, y1: 0, y2: H, stroke: "#c0392b", "stroke-width": 1.5,
      "stroke-dasharray": "6 4" }));
  }
  box.replaceChildren(g);
}
// with a GPU chosen, each point is what the most loaded GPU holds, against one GPU's memory
export async function renderCurves(body, s, mine, signal, fit) {
  const limit = fit ? fit.capacity_bytes : limitBytes(s);
  const extra = fit ? gpuBody({}, s) : {};
  const wanted = s.mode === "weights" ? [] : ["context", "batch"];
  for (const x of ["context", "batch"]) {
    const box = $(`chart-${x}`);
    box.closest("figure").hidden = !wanted.includes(x);
  }
  for (const x of wanted) {
    const box = $(`chart-${x}`);
    try {
      const c = await api("/api/curve", { ...body, ...extra, x }, signal);
      if (mine !== state.seq) return;
      drawChart(box, c, body[x], limit);
      if (c.partial) box.append(el("p", { class: "hint", "data-partial": "1" }, c.note));
    } catch (e) {
      if (mine !== state.seq) return;
      box.replaceChildren(el("p", { class: "hint" }, `no chart: ${e.message}`));
    }
  }
}
