// The estimate on the page: the headline total, the verdict against the memory given, the gauge, the stacked
// bar of components, the table with each component's arithmetic and the notes.
import { $, GB, color, count, el, int, shortSize, size, svg } from "./util.js";

export function limitBytes(s) {
  const per = Number(s.memory);
  if (!s.memory || !Number.isFinite(per) || per <= 0) return null;
  const n = Math.max(1, Number(s.gpus) || 1);
  return per * GB * n;
}
// the estimate; with a GPU chosen, ``fit`` is /api/fit's answer and ``est`` the estimate it judged (the same
// device, so the headline and the verdict never disagree)
export function renderEstimate(est, s, fit) {
  const total = est.total_bytes;
  $("total").textContent = size(total);
  const exact = $("total-bytes");
  exact.textContent = `${int(total)} bytes`;
  exact.dataset.bytes = String(total);
  let p = / parameters$/.test(est.model) ? `${count(est.parameters)} parameters (a bare count: weights only)`
    : `${est.model}: ${count(est.parameters)} parameters`;
  if (est.active_parameters && est.active_parameters !== est.parameters) {
    p += `, ${count(est.active_parameters)} active per token`;
  }
  $("params").textContent = `${p} · ${est.mode}, ${est.dtype}`;
  const perGpu = $("per-gpu");
  perGpu.hidden = !fit || fit.gpus <= 1;
  if (fit && fit.gpus > 1) {
    perGpu.textContent = `the most loaded of ${fit.gpus} GPUs holds ${size(Math.max(...fit.per_gpu_bytes))}`;
  }
  $("total-label").textContent = fit ? `Total device memory, on ${fit.device_name}` : "Total device memory";
  if (!fit) renderLocalFit(total, s);
  renderStack(est, s, fit);
  renderTable(est);
  const notes = $("notes");
  notes.replaceChildren(...(est.notes || []).map((n) => el("li", {}, n)));
  if (est.host_bytes) notes.append(el("li", {}, `host RAM besides the GPU: ${size(est.host_bytes)}`));
}
function localLimitText(s) {
  const n = Math.max(1, Number(s.gpus) || 1);
  return `${n > 1 ? `${n} × ` : ""}${Number(s.memory).toLocaleString("en-US")} GB`;
}
export function renderVerdict(fits, text) {
  const verdict = $("verdict");
  verdict.hidden = text === null;
  if (text === null) return;
  verdict.className = fits ? "fits" : "nofit";
  verdict.dataset.fits = String(fits);
  verdict.textContent = text;
}
export function renderGauge(used, limit, label) {
  const box = $("gauge");
  box.replaceChildren();
  if (!limit) return;
  const fits = used <= limit;
  const W = 1000, H = 30;
  const top = Math.max(used, limit);
  const g = svg("svg", { viewBox: `0 0 ${W} ${H + 24}`, role: "img",
    "aria-label": `${shortSize(used)} against ${shortSize(limit)}` });
  g.append(svg("rect", { x: 0, y: 0, width: W, height: H, fill: "#eef1f5", rx: 4 }));
  g.append(svg("rect", { x: 0, y: 0, width: (W * Math.min(used, limit)) / top, height: H,
    fill: fits ? "#59a14f" : "#e15759", rx: 4 }));
  if (!fits) {
    g.append(svg("rect", { x: (W * limit) / top, y: 0, width: (W * (used - limit)) / top, height: H,
      fill: "#a3262a" }));
  }
  g.append(svg("line", { x1: (W * limit) / top, x2: (W * limit) / top, y1: 0, y2: H + 4, stroke: "#222",
    "stroke-width": 2 }));
  g.append(svg("text", { x: 0, y: H + 20, class: "gauge-label" },
    `${shortSize(used)} of ${shortSize(limit)}${label} (${((100 * used) / limit).toFixed(0)} %)`));
  box.append(g);
}
function renderLocalFit(total, s) {
  const limit = limitBytes(s);
  if (!limit) {
    renderVerdict(false, null);
    renderGauge(0, null, "");
    return;
  }
  const what = localLimitText(s);
  const pct = ((100 * total) / limit).toFixed(0);
  renderVerdict(total <= limit, total <= limit
    ? `Fits in ${what}: ${shortSize(limit - total)} to spare (${pct} % used)`
    : `Does not fit in ${what}: ${shortSize(total - limit)} over (${pct} %)`);
  renderGauge(total, limit, ` (${what})`);
}
function deviceComponents(est) {
  return Object.entries(est.components).filter(([k]) => !k.startsWith("host_"));
}
function renderStack(est, s, fit) {
  const box = $("stack");
  const parts = deviceComponents(est).filter(([, v]) => v > 0);
  const total = parts.reduce((a, [, v]) => a + v, 0);
  // one GPU's memory is compared with one GPU's load; with several GPUs the bar shows the whole, unmarked
  const limit = fit ? (fit.gpus > 1 ? null : fit.capacity_bytes) : limitBytes(s);
  const top = Math.max(total, limit || 0) || 1;
  const W = 1000, H = 40;
  const g = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "components of the total" });
  let x = 0;
  parts.forEach(([name, v], i) => {
    const w = (W * v) / top;
    const r = svg("rect", { x, y: 0, width: Math.max(w, 0.5), height: H, fill: color(name, i) });
    r.append(svg("title", {}, `${name}: ${size(v)}`));
    g.append(r);
    x += w;
  });
  if (limit) {
    g.append(svg("line", { x1: (W * limit) / top, x2: (W * limit) / top, y1: 0, y2: H, stroke: "#222",
      "stroke-width": 3, "stroke-dasharray": "6 4" }));
  }
  const legend = el("ul", { class: "legend" });
  parts.forEach(([name, v], i) => {
    const li = el("li");
    const sw = el("span", { class: "swatch" });
    sw.style.background = color(name, i);
    li.append(sw, el("span", {}, `${rowLabel(name, est)} ${shortSize(v)} (${((100 * v) / (total || 1)).toFixed(1)} %)`));
    legend.append(li);
  });
  box.replaceChildren(g, legend);
}
const NAMES = { weights: "weights", kv_cache: "KV cache", activations: "activations", logits: "logits",
  overhead: "workspaces", cuda_context: "CUDA context", allocator_reserve: "allocator reserve",
  gradients: "gradients", optimizer_states: "optimizer states", master_weights: "master weights",
  lora_weights: "LoRA weights", lora_gradients: "LoRA gradients", lora_optimizer_states: "LoRA optimizer states" };
const TRANSIENT = new Set(["kv_cache", "activations", "logits", "gradients", "allocator_reserve"]);
// each row names the moment its bytes belong to: the peak the estimate found, or when the engine allocates it
export function rowLabel(name, est) {
  const host = name.startsWith("host_");
  const base = host ? name.slice(5) : name;
  const label = NAMES[base] || base.replace(/_/g, " ");
  if (host) return `${label} (host RAM)`;
  const d = est.details || {};
  if (d.runtime === "vllm") {
    if (base === "kv_cache") return `${label} (the pool vLLM reserves at start-up)`;
    if (base === "activations") return `${label} (vLLM's profile run at start-up)`;
  }
  if (d.runtime === "llamacpp") {
    if (base === "kv_cache") return `${label} (${(d.n_ctx || 0).toLocaleString("en-US")} cells, allocated at load)`;
    if (base === "activations") return `${label} (compute buffer, allocated at load)`;
  }
  const moment = d.peak_moment || d.peak_phase;
  if (moment && TRANSIENT.has(base)) return `${label} (at the peak: ${moment})`;
  return label;
}
function renderTable(est) {
  const rows = Object.entries(est.components).map(([name, v], i) => {
    const tr = el("tr", { "data-component": name, "data-bytes": String(v) });
    const c = el("td");
    const sw = el("span", { class: "swatch" });
    sw.style.background = color(name, i);
    c.append(sw, document.createTextNode(rowLabel(name, est)));
    tr.append(c, el("td", { class: "num" }, int(v)), el("td", { class: "num" }, size(v)),
      el("td", { class: "formula" }, (est.explain || {})[name] || ""));
    return tr;
  });
  document.querySelector("#components tbody").replaceChildren(...rows);
  $("foot-bytes").textContent = int(est.total_bytes);
  $("foot-size").textContent = size(est.total_bytes);
}
