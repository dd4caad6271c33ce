// The form: its workload fields are built from the option declarations the server sends (/api/info
// "options", from memfit.options), so a new option appears here with no edit. The state is kept in the URL
// hash (#model=…&mode=…) so that a result can be shared and restored, and turned into the request body.
import { $, GB, count, el, runtimeName, state } from "./util.js";

// presentation only: which options sit in the main grid (the rest go under "More options"), their labels,
// and what this page starts with where it differs from the library's defaults
const MAIN = ["mode", "dtype", "runtime", "context", "batch", "new_tokens", "kv_dtype", "optimizer", "checkpointing",
  "lora_rank"];
const LABELS = { mode: "Mode", dtype: "Precision / format", runtime: "Runtime", context: "Context (tokens)",
  batch: "Batch", new_tokens: "New tokens", kv_dtype: "KV cache dtype", optimizer: "Optimizer",
  checkpointing: "Checkpointing", lora_rank: "LoRA rank" };
const CHOICE_LABELS = { weights: "weights only", train: "full training", lora: "LoRA", qlora: "QLoRA",
  vllm: "vLLM", llamacpp: "llama.cpp / Ollama" };
const PAGE_DEFAULTS = { mode: "inference", context: "4096", new_tokens: "256", runtime: "" };
const GPU_FIELDS = ["gpu", "memory", "gpus"];
// the runtime people use on each kind of device, when the visitor has not picked one
const USUAL_RUNTIME = { consumer: "llamacpp", workstation: "llamacpp", apple: "llamacpp", cpu: "llamacpp",
  datacenter: "vllm" };

export let FIELDS = [...GPU_FIELDS];
export let DEFAULTS = { source: "catalog", model: "llama-3.1-8b", config: "", count: "", gpu: "rtx-4090", memory: "",
  gpus: "1" };
let OPTIONS = {};

function inputFor(o) {
  if (o.choices && o.choices.length) {
    const sel = el("select", { id: o.name, name: o.name });
    if (o.name === "runtime") sel.append(el("option", { value: "" }, "usual for this GPU"));
    else if (o.optional) sel.append(el("option", { value: "" }, o.none_means || "default"));
    const label = (c) => (o.name === "runtime" ? runtimeName(c) : CHOICE_LABELS[c] || c);
    sel.append(...o.choices.map((c) => el("option", { value: c }, label(c))));
    return sel;
  }
  if (o.type === "bool") return el("input", { id: o.name, name: o.name, type: "checkbox" });
  if (o.type === "int" || o.type === "float") {
    const attrs = { id: o.name, name: o.name, type: "number", step: o.type === "int" ? "1" : "any" };
    if (o.min !== null) attrs.min = String(o.min);
    if (o.max !== null) attrs.max = String(o.max);
    if (o.optional) attrs.placeholder = o.none_means || "default";
    return el("input", attrs);
  }
  const attrs = { id: o.name, name: o.name, spellcheck: "false", placeholder: o.none_means || "" };
  if (o.name === "dtype" || o.name === "kv_dtype") attrs.list = "dtype-list";
  return el("input", attrs);
}
function fieldFor(o) {
  const lab = el("label", { "data-modes": o.modes.join(" "), title: o.help });
  if (o.runtimes && o.runtimes.length) lab.dataset.runtimes = o.runtimes.join(" ");
  lab.append(document.createTextNode(LABELS[o.name] || o.name.replace(/_/g, " ")), inputFor(o));
  return lab;
}
function shown(o) {
  if (o.type === "bool") return o.default ? "true" : "false";
  if (o.default === null || o.default === undefined || Array.isArray(o.default)) return "";
  return String(o.default);
}
export function buildForm(options) {
  OPTIONS = Object.fromEntries(options.filter((o) => o.name !== "gpus").map((o) => [o.name, o]));
  const names = Object.keys(OPTIONS);
  const main = MAIN.filter((n) => OPTIONS[n]);
  const more = names.filter((n) => !main.includes(n));
  $("workload-fields").replaceChildren(...main.map((n) => fieldFor(OPTIONS[n])));
  $("more-fields").replaceChildren(...more.map((n) => fieldFor(OPTIONS[n])));
  FIELDS = [...main, ...more, ...GPU_FIELDS];
  DEFAULTS = { ...DEFAULTS, ...Object.fromEntries(names.map((n) => [n, shown(OPTIONS[n])])), ...PAGE_DEFAULTS };
}

function value(f) {
  const node = $(f);
  return node.type === "checkbox" ? String(node.checked) : node.value.trim();
}
function setValue(f, v) {
  const node = $(f);
  if (node.type === "checkbox") { node.checked = v === "true"; return; }
  if (node.tagName === "SELECT" && ![...node.options].some((o) => o.value === v)) return;
  node.value = v;
}
export function source() {
  return document.querySelector('input[name="source"]:checked').value;
}
export function readForm() {
  const s = { source: source(), model: $("model").value.trim(), config: $("config").value,
    count: $("count").value.trim() };
  for (const f of FIELDS) s[f] = value(f);
  return s;
}
export function writeForm(s) {
  const src = ["catalog", "config", "count"].includes(s.source) ? s.source : "catalog";
  document.querySelector(`input[name="source"][value="${src}"]`).checked = true;
  $("model").value = s.model || "";
  $("config").value = s.config || "";
  $("count").value = s.count || "";
  for (const f of FIELDS) setValue(f, s[f] === undefined ? DEFAULTS[f] : s[f]);
  const dev = state.gpus.find((g) => g.id === $("gpu").value);
  if (dev && !s.memory) $("memory").value = String(+(dev.capacity_bytes / GB).toFixed(2));
  showSource();
  showModeFields();
}

// the runtime the estimate assumes: the visitor's choice, else the usual one on the chosen GPU
export function effectiveRuntime(s) {
  if (s.runtime) return s.runtime;
  const dev = state.gpus.find((g) => g.id === s.gpu);
  return (dev && USUAL_RUNTIME[dev.kind]) || "transformers";
}
export function usualRuntime(dev) {
  return (dev && USUAL_RUNTIME[dev.kind]) || "transformers";
}
function applies(f, s) {
  const o = OPTIONS[f];
  if (!o || !o.modes.includes(s.mode)) return false;
  return !(o.runtimes && o.runtimes.length && s.mode === "inference" && !o.runtimes.includes(effectiveRuntime(s)));
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
  for (const f of FIELDS) {
    const keep = ["mode", "dtype", ...GPU_FIELDS].includes(f) || applies(f, s);
    const moved = OPTIONS[f] && !MAIN.includes(f) && s[f] === DEFAULTS[f];  // "more options" only when changed
    if (keep && !moved && s[f] !== "" && s[f] !== undefined && !(f === "gpus" && s[f] === "1")) q.set(f, s[f]);
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
function parsed(f, v) {
  const o = OPTIONS[f];
  if (o.type === "int" || o.type === "float") return Number(v);
  if (o.type === "bool") return v === "true";
  if (o.type === "names") return v.split(",").map((t) => t.trim()).filter(Boolean);
  return v;
}
// the body for /api/estimate: the mode's options (those changed from the default, and the main ones)
export function requestBody(s) {
  const body = { model: modelRef(s), mode: s.mode };
  if (s.dtype) body.dtype = s.dtype;
  for (const f of FIELDS) {
    if (f === "mode" || f === "dtype" || !applies(f, s) || s[f] === "") continue;
    if (!MAIN.includes(f) && s[f] === DEFAULTS[f]) continue;
    body[f] = parsed(f, s[f]);
  }
  if (s.mode === "inference") body.runtime = effectiveRuntime(s);
  if (s.gpus !== "" && s.gpus !== "1") body.gpus = Number(s.gpus);
  return body;
}

export function showSource() {
  const src = source();
  for (const d of document.querySelectorAll(".source")) d.hidden = d.dataset.source !== src;
}
export function showModeFields() {
  const s = { mode: $("mode").value, runtime: $("runtime") ? $("runtime").value : "", gpu: $("gpu").value };
  for (const lab of document.querySelectorAll("[data-modes]")) {
    const rts = lab.dataset.runtimes;
    lab.hidden = !lab.dataset.modes.split(" ").includes(s.mode)
      || Boolean(rts && s.mode === "inference" && !rts.split(" ").includes(effectiveRuntime(s)));
  }
}
export function modelInfo() {
  const id = $("model").value.trim().toLowerCase();
  const m = (window.memfitModels || []).find((r) => r.id === id || (r.aliases || []).includes(id));
  $("model-info").textContent = m ? `${m.repo}${m.parameters ? ` · ${count(m.parameters)} parameters` : ""}` : "";
}
