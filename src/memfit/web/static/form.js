// The form's state: read from and written to the form, kept in the URL hash (#model=…&mode=…) so that a
// result can be shared and restored, and turned into the API's request body.
import { $, GB, count, state } from "./util.js";

export const FIELDS = ["mode", "dtype", "runtime", "context", "batch", "new_tokens", "kv_dtype", "optimizer",
  "checkpointing", "lora_rank", "gpu", "memory", "gpus"];
const INT_FIELDS = new Set(["context", "batch", "new_tokens", "lora_rank", "gpus"]);
export const DEFAULTS = {
  source: "catalog", model: "llama-3.1-8b", config: "", count: "", mode: "inference", dtype: "",
  runtime: "transformers", context: "4096", batch: "1", new_tokens: "256", kv_dtype: "", optimizer: "adamw",
  checkpointing: "none", lora_rank: "16", gpu: "", memory: "", gpus: "1",
};
const MODE_FIELDS = {
  weights: [],
  inference: ["runtime", "context", "batch", "new_tokens", "kv_dtype"],
  train: ["context", "batch", "optimizer", "checkpointing"],
  lora: ["context", "batch", "optimizer", "checkpointing", "lora_rank"],
  qlora: ["context", "batch", "optimizer", "checkpointing", "lora_rank"],
};

export function source() {
  return document.querySelector('input[name="source"]:checked').value;
}
export function readForm() {
  const s = { source: source(), model: $("model").value.trim(), config: $("config").value,
    count: $("count").value.trim() };
  for (const f of FIELDS) s[f] = $(f).value.trim();
  return s;
}
export function writeForm(s) {
  const src = ["catalog", "config", "count"].includes(s.source) ? s.source : "catalog";
  document.querySelector(`input[name="source"][value="${src}"]`).checked = true;
  $("model").value = s.model || "";
  $("config").value = s.config || "";
  $("count").value = s.count || "";
  for (const f of FIELDS) {
    const v = s[f] === undefined ? DEFAULTS[f] : s[f];
    const node = $(f);
    if (node.tagName === "SELECT" && ![...node.options].some((o) => o.value === v)) continue;
    node.value = v;
  }
  const dev = state.gpus.find((g) => g.id === $("gpu").value);
  if (dev && !s.memory) $("memory").value = String(+(dev.capacity_bytes / GB).toFixed(2));
  showSource();
  showModeFields();
}
function b64encode(text) {
  const bytes = new TextEncoder().encode(text);
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}
function b64decode(text) {
  const bin = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
  return new TextDecoder().decode(Uint8Array.from(bin, (c) => c.charCodeAt(0)));
}
export function toHash(s) {
  const q = new URLSearchParams();
  if (s.source === "config") {
    let compact = s.config;
    try { compact = JSON.stringify(JSON.parse(s.config)); } catch (e) { /* keep as typed */ }
    q.set("config", b64encode(compact));
  } else if (s.source === "count") {
    q.set("count", s.count);
  } else {
    q.set("model", s.model);
  }
  const keep = new Set(["mode", "dtype", "gpu", "memory", "gpus", ...(MODE_FIELDS[s.mode] || [])]);
  for (const f of FIELDS) {
    if (keep.has(f) && s[f] !== "" && s[f] !== undefined && !(f === "gpus" && s[f] === "1")) q.set(f, s[f]);
  }
  return q.toString();
}
export function fromHash(hash) {
  const q = new URLSearchParams(hash.replace(/^#/, ""));
  const s = { ...DEFAULTS, model: "", dtype: "", kv_dtype: "", memory: "", gpu: "" };
  if (q.has("config")) {
    s.source = "config";
    try { s.config = JSON.stringify(JSON.parse(b64decode(q.get("config"))), null, 2); } catch (e) {
      s.config = "";
    }
  } else if (q.has("count")) {
    s.source = "count";
    s.count = q.get("count");
  } else {
    s.source = "catalog";
    s.model = q.get("model") || DEFAULTS.model;
  }
  for (const f of FIELDS) if (q.has(f)) s[f] = q.get(f).slice(0, 64);
  return s;
}

function modelRef(s) {
  if (s.source === "config") {
    let cfg;
    try { cfg = JSON.parse(s.config); } catch (e) {
      throw new Error(`the pasted config.json is not valid JSON: ${e.message}`);
    }
    if (cfg === null || typeof cfg !== "object" || Array.isArray(cfg)) {
      throw new Error("the pasted config.json must be a JSON object ({ … })");
    }
    return cfg;
  }
  if (s.source === "count") {
    if (!s.count) throw new Error("write a parameter count, such as 7B");
    return s.count;
  }
  if (!s.model) throw new Error("pick a model from the catalog (type to search)");
  return s.model;
}
export function requestBody(s) {
  const body = { model: modelRef(s) };
  body.mode = s.mode;
  if (s.dtype) body.dtype = s.dtype;
  for (const f of MODE_FIELDS[s.mode] || []) {
    if (s[f] === "") continue;
    body[f] = INT_FIELDS.has(f) ? Number(s[f]) : s[f];
  }
  if (s.gpus !== "" && s.gpus !== "1") body.gpus = Number(s.gpus);
  return body;
}

export function showSource() {
  const src = source();
  for (const d of document.querySelectorAll(".source")) d.hidden = d.dataset.source !== src;
}
export function showModeFields() {
  const mode = $("mode").value;
  for (const lab of document.querySelectorAll("[data-modes]")) {
    lab.hidden = !lab.dataset.modes.split(" ").includes(mode);
  }
}
export function modelInfo() {
  const id = $("model").value.trim().toLowerCase();
  const m = (window.memfitModels || []).find((r) => r.id === id || (r.aliases || []).includes(id));
  $("model-info").textContent = m ? `${m.repo}${m.parameters ? ` · ${count(m.parameters)} parameters` : ""}` : "";
}
