// Shared by the page's modules: the state of this page, number formatting and DOM/SVG builders.

export const $ = (id) => document.getElementById(id);
export const GB = 1e9;
export const GIB = 1024 ** 3;
const SVG = "http://www.w3.org/2000/svg";
const COLORS = {
  weights: "#4e79a7", kv_cache: "#f28e2b", activations: "#e15759", logits: "#76b7b2", overhead: "#59a14f",
  cuda_context: "#edc948", allocator_reserve: "#b07aa1", gradients: "#ff9da7", optimizer_states: "#9c755f",
  master_weights: "#bab0ac", lora_weights: "#d37295", lora_gradients: "#a0cbe8", lora_optimizer_states: "#8cd17d",
};
const EXTRA = ["#8cd17d", "#b6992d", "#499894", "#f1ce63", "#d4a6c8", "#fabfd2", "#79706e", "#d7b5a6"];

// what the server told us (info, the GPU list) and which computation is the current one
export const state = { info: { features: {}, formats: [] }, gpus: [], seq: 0 };

export const int = (n) => Math.round(n).toLocaleString("en-US");
export function size(n) {
  if (Math.abs(n) >= 1e8) return `${(n / GB).toFixed(2)} GB (${(n / GIB).toFixed(2)} GiB)`;
  if (Math.abs(n) >= 1e5) return `${(n / 1e6).toFixed(2)} MB (${(n / 1024 ** 2).toFixed(2)} MiB)`;
  return `${int(n)} bytes`;
}
export function shortSize(n) {
  if (Math.abs(n) >= 1e8) return `${(n / GB).toFixed(n >= 1e11 ? 0 : 1)} GB`;
  if (Math.abs(n) >= 1e5) return `${(n / 1e6).toFixed(0)} MB`;
  return `${int(n)} B`;
}
export function count(n) {
  for (const [d, s] of [[1e12, "T"], [1e9, "B"], [1e6, "M"], [1e3, "K"]]) {
    if (n >= d) return `${int(n)} (${(n / d).toFixed(2)}${s})`;
  }
  return int(n);
}
export function color(name, i) {
  const base = name.startsWith("host_") ? name.slice(5) : name;
  if (COLORS[base]) return COLORS[base];
  let h = 0;
  for (const ch of base) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
  return EXTRA[(h + i) % EXTRA.length];
}
export function el(tag, attrs, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}
export function svg(tag, attrs, text) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

// a JSON request to this server; an error carries the server's one-line message
export async function api(path, body, signal) {
  const opts = body === undefined ? {} : {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body), signal,
  };
  const r = await fetch(path, opts);
  let doc = null;
  try { doc = await r.json(); } catch (e) { doc = null; }
  if (!r.ok) {
    const err = new Error((doc && doc.error) || `${path}: HTTP ${r.status}`);
    err.status = r.status;
    throw err;
  }
  return doc;
}

// the runtimes this server knows (GET /api/info: memfit.options.RUNTIMES, each with its display name)
export function runtimeIds() {
  return ((state.info && state.info.runtimes) || []).map((r) => r.name);
}
export function runtimeName(rt) {
  const r = ((state.info && state.info.runtimes) || []).find((x) => x.name === rt);
  return r ? r.label : rt;
}
