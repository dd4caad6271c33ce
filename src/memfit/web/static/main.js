// memfit web calculator: vanilla JS modules, no build step, no network beyond this server.
// This module runs the loop: read the form, ask the server, draw the answer; and wires up the page.
import { drawDtypeChart, renderCurves } from "./charts.js";
import { fetchFit, hideGpuParts, renderAfterFit } from "./fit.js";
import {
  DEFAULTS, buildForm, fromHash, modelInfo, readForm, requestBody, showModeFields, showSource, toHash, writeForm,
} from "./form.js";
import { limitBytes, renderEstimate } from "./render.js";
import { showWhatFits } from "./whatfits.js";
import { $, GB, api, count, el, shortSize, state } from "./util.js";

let timer = null;
let controller = null;

function setState(st, text) {
  $("result").dataset.state = st;
  $("status").textContent = text || "";
}
function showError(msg) {
  const box = $("error");
  box.textContent = msg;
  box.hidden = !msg;
}
// the estimate shown: with a GPU chosen, the one /api/fit judged on that GPU (so the headline total and the
// verdict are for the same device); weights mode adds the weights at each precision
async function fetchEstimate(body, s, signal) {
  if (!s.gpu || !state.info.features.fit) return { est: await api("/api/estimate", body, signal), fit: null };
  const [fit, plain] = await Promise.all([fetchFit(body, s, signal),
    s.mode === "weights" ? api("/api/estimate", body, signal) : null]);
  const est = plain ? { ...fit.estimate, weights_by_dtype: plain.weights_by_dtype } : fit.estimate;
  return { est, fit };
}
async function compute() {
  clearTimeout(timer);
  const mine = ++state.seq;
  if (controller) controller.abort();
  controller = new AbortController();
  const signal = controller.signal;
  const s = readForm();
  const hash = toHash(s);
  let body;
  try {
    body = requestBody(s);
  } catch (e) {
    showError(e.message);
    setState("error", "");
    return;
  }
  setState("loading", "estimating…");
  try {
    const { est, fit } = await fetchEstimate(body, s, signal);
    if (mine !== state.seq) return;
    showError("");
    if (!fit) hideGpuParts();
    showWhatFits(s);
    renderEstimate(est, s, fit);
    drawDtypeChart($("chart-dtype"), est.mode === "weights" ? est.weights_by_dtype : null, est.dtype,
      fit ? fit.capacity_bytes : limitBytes(s), fit ? fit.gpus : 1);
    $("answer").hidden = false;
    history.replaceState(null, "", `#${hash}`);
    $("status").textContent = fit ? "planning…" : "";
    if (fit) await renderAfterFit(fit, body, s, mine, signal);
    if (mine !== state.seq) return;
    await renderCurves(body, s, mine, signal, fit);
    if (mine !== state.seq) return;
    $("result").dataset.rendered = hash;
    setState("done", "");
  } catch (e) {
    if (mine !== state.seq) return;
    showError(e.message);
    $("answer").hidden = true;
    $("result").dataset.rendered = hash;
    setState("error", "");
  }
}
function schedule() {
  clearTimeout(timer);
  timer = setTimeout(compute, 300);
}

async function loadCatalogs() {
  try {
    state.info = await api("/api/info");
  } catch (e) {
    state.info = { features: {}, formats: [] };
  }
  buildForm(state.info.options || []);
  const dl = $("dtype-list");
  dl.replaceChildren(...(state.info.formats || []).map((f) => el("option", { value: f.name }, f.label || f.name)));
  try {
    const models = await api("/api/models");
    window.memfitModels = models;
    $("model-list").replaceChildren(...models.map((m) => el("option", { value: m.id },
      `${m.repo}${m.parameters ? ` · ${count(m.parameters)}` : ""}`)));
  } catch (e) {
    showError(`could not load the model list: ${e.message}`);
  }
  if (!state.info.features.gpus) return;
  try {
    state.gpus = await api("/api/gpus");
    const sel = $("gpu");
    const groups = new Map();
    for (const g of state.gpus) {
      const key = g.kind || "other";
      if (!groups.has(key)) groups.set(key, el("optgroup", { label: key }));
      groups.get(key).append(el("option", { value: g.id }, `${g.name} · ${shortSize(g.capacity_bytes)}`));
    }
    sel.append(...groups.values());
    $("gpu-label").hidden = false;
  } catch (e) { state.gpus = []; }
}
function wire() {
  const form = $("form");
  form.addEventListener("submit", (e) => { e.preventDefault(); compute(); });
  form.addEventListener("input", (e) => {
    if (e.target.name === "source") showSource();
    if (["mode", "runtime", "gpu"].includes(e.target.id)) showModeFields();
    if (e.target.id === "model") modelInfo();
    if (e.target.id === "gpu") {
      const dev = state.gpus.find((g) => g.id === e.target.value);
      $("memory").value = dev ? String(+(dev.capacity_bytes / GB).toFixed(2)) : "";
    }
    schedule();
  });
  form.addEventListener("change", (e) => {
    if (e.target.name === "source") showSource();
    if (["mode", "runtime", "gpu"].includes(e.target.id)) showModeFields();
  });
  $("share").addEventListener("click", async () => {
    const url = `${location.origin}${location.pathname}#${toHash(readForm())}`;
    history.replaceState(null, "", url);
    try {
      await navigator.clipboard.writeText(url);
      $("status").textContent = "link copied";
    } catch (e) {
      $("status").textContent = "the address bar holds the link";
    }
  });
  window.addEventListener("hashchange", () => {
    if (location.hash.slice(1) === toHash(readForm())) return;
    writeForm(fromHash(location.hash));
    modelInfo();
    compute();
  });
}
async function init() {
  document.body.dataset.ready = "0";
  await loadCatalogs();
  wire();
  writeForm(location.hash.length > 1 ? fromHash(location.hash) : DEFAULTS);
  modelInfo();
  document.body.dataset.ready = "1";
  await compute();
}

document.addEventListener("DOMContentLoaded", init);
