// The verdict for the GPU chosen from the hardware catalog, the runtime assumed, every runtime the server knows
// side by side, what to change (from plan and the formats that fit on the chosen runtime), and the plan's answers.
import { effectiveRuntime, usualRuntime } from "./form.js";
import { renderMatrix } from "./matrix.js";
import { renderGauge, renderVerdict } from "./render.js";
import { $, GB, api, el, runtimeIds, runtimeName, shortSize, state } from "./util.js";

const KIND_NAMES = { consumer: "a consumer card", workstation: "a workstation card", apple: "a Mac",
  cpu: "a CPU", datacenter: "a data-centre card" };

export function gpuBody(body, s) {
  const out = { ...body, gpu: s.gpu };
  const dev = state.gpus.find((g) => g.id === s.gpu);
  const mem = Number(s.memory);
  if (dev && s.memory && Number.isFinite(mem) && mem > 0
      && Math.abs(mem * GB - dev.capacity_bytes) > 0.005 * dev.capacity_bytes) {
    out.memory = Math.round(mem * GB);  // the visitor changed the capacity
  }
  return out;
}
function renderRuntimeAssumed(s) {
  const box = $("runtime-assumed");
  box.hidden = false;
  if (s.mode !== "inference") {
    box.textContent = s.mode === "weights" ? "Weights only: no runtime, no KV cache or activations."
      : "Runtime: PyTorch (transformers) training.";
    return;
  }
  const dev = state.gpus.find((g) => g.id === s.gpu);
  const rt = effectiveRuntime(s);
  const why = s.runtime ? "your choice"
    : `the usual one on ${KIND_NAMES[dev && dev.kind] || "this device"}; pick another under Workload › Runtime`;
  box.replaceChildren(el("strong", {}, "Runtime assumed: "), document.createTextNode(`${runtimeName(rt)} (${why})`));
  box.dataset.runtime = rt;
}
// the verdict for the chosen GPU; returns /api/fit's answer (its estimate is the one on the page)
export async function fetchFit(body, s, signal) {
  const fit = await api("/api/fit", gpuBody(body, s), signal);
  renderVerdict(fit.fits, fit.summary);
  renderRuntimeAssumed(s);
  renderGauge(Math.max(...fit.per_gpu_bytes), fit.capacity_bytes,
    ` per GPU on ${fit.gpus > 1 ? `${fit.gpus} × ` : ""}${fit.device_name}`);
  const lines = [fit.split, ...(fit.warnings || []), ...(fit.notes || [])].filter(Boolean);
  $("fit").className = "hint";
  $("fit").replaceChildren(...lines.map((t) => el("div", {}, t)));
  return fit;
}
async function renderRuntimes(body, s, signal) {
  const box = $("runtimes-box");
  box.hidden = s.mode !== "inference";
  if (box.hidden) return {};
  const rows = {};
  await Promise.all(runtimeIds().map(async (rt) => {
    const req = { ...gpuBody(body, s), runtime: rt };
    for (const k of ["task", "attn", "gpu_memory_utilization", "max_num_seqs", "max_num_batched_tokens", "block_size",
      "n_gpu_layers", "n_batch", "n_ubatch", "flash_attn"]) delete req[k];  // runtime-specific settings
    try { rows[rt] = await api("/api/fit", req, signal); } catch (e) { rows[rt] = { error: e.message }; }
  }));
  const chosen = effectiveRuntime(s);
  $("runtimes").querySelector("tbody").replaceChildren(...runtimeIds().map((rt) => {
    const r = rows[rt];
    const tr = el("tr", { "data-runtime": rt, class: rt === chosen ? "chosen" : "" });
    const name = `${runtimeName(rt)}${rt === chosen ? " (assumed)" : ""}`;
    if (r.error) {
      tr.append(el("td", {}, name), el("td", { class: "num" }, "—"), el("td", { class: "hint" }, r.error));
    } else {
      const per = Math.max(...r.per_gpu_bytes);
      tr.dataset.fits = String(r.fits);
      tr.dataset.bytes = String(per);
      tr.append(el("td", {}, name), el("td", { class: "num" }, shortSize(per)),
        el("td", { class: r.fits ? "ok" : "bad" }, r.fits ? "fits" : `short by ${shortSize(per - r.capacity_bytes)}`));
    }
    return tr;
  }));
  return rows;
}
function renderPlan(plan) {
  if (plan.error) {
    $("plan").replaceChildren(el("li", { class: "hint" }, `plan: ${plan.error}`));
    return;
  }
  $("plan").replaceChildren(...Object.values(plan.answers || {}).map((a) => {
    const li = el("li", { "data-question": a.question });
    li.append(el("strong", {}, `${a.question.replace(/_/g, " ")}: `),
      document.createTextNode(a.explanation || String(a.value)));
    return li;
  }));
}
function fittingOnRuntime(advice, rt, mode) {
  return (advice.fitting || []).filter((r) => mode !== "inference" || !r.runtime || r.runtime === rt);
}
function renderAdvice(advice, s) {
  const rt = effectiveRuntime(s);
  $("advice-title").textContent = s.mode === "inference"
    ? `Formats that fit with ${runtimeName(rt)}, least quality lost first` : "Formats that fit, least quality lost first";
  if (advice.error) {
    $("advice").replaceChildren(el("li", { class: "hint" }, `formats: ${advice.error}`));
    return;
  }
  const rows = fittingOnRuntime(advice, rt, s.mode).slice(0, 8).map((r) => {
    const q = r.quality_cost_pct === null || r.quality_cost_pct === undefined
      ? "no published measurement" : `+${r.quality_cost_pct.toFixed(2)} % perplexity`;
    const li = el("li", { title: r.quality_basis || "", "data-format": r.format });
    li.append(el("strong", {}, r.format), document.createTextNode(` ${shortSize(r.per_gpu_bytes)} per GPU, ${q}`));
    return li;
  });
  if (!rows.length) rows.push(el("li", {}, "no format fits this GPU with this workload"));
  $("advice").replaceChildren(...rows);
}
function changes(fit, s, plan, advice, runtimes) {
  const out = [];
  const a = (plan.answers || {});
  const rt = effectiveRuntime(s);
  const formats = advice.error ? [] : fittingOnRuntime(advice, rt, s.mode);
  if (!fit.fits) {
    if (formats.length) out.push(`use ${formats[0].format}: ${shortSize(formats[0].per_gpu_bytes)} per GPU`);
    for (const [name, r] of Object.entries(runtimes)) {
      if (name !== rt && r.fits) out.push(`or run it with ${runtimeName(name)}: fits in ${shortSize(Math.max(...r.per_gpu_bytes))}`);
    }
    if (a.gpu_layers && a.gpu_layers.value !== null && a.gpu_layers.value > 0) {
      out.push(`or keep ${a.gpu_layers.value} of ${a.gpu_layers.layers} layers on the GPU (-ngl ${a.gpu_layers.value}), the rest in RAM`);
    }
    if (a.min_gpus && a.min_gpus.value) out.push(`or use ${a.min_gpus.value} of these GPUs`);
    if (a.max_context && a.max_context.value) out.push(`or shorten the context to ${a.max_context.value.toLocaleString("en-US")} tokens`);
  } else {
    if (a.max_context && a.max_context.value) out.push(`the context can grow to ${a.max_context.value.toLocaleString("en-US")} tokens`);
    if (a.max_batch && a.max_batch.value > 1) out.push(`or ${a.max_batch.value.toLocaleString("en-US")} sequences at once`);
    const better = formats.find((f) => f.format !== fit.estimate.dtype);
    if (better && formats[0] === better) out.push(`${better.format} also fits (${shortSize(better.per_gpu_bytes)} per GPU) and loses the least quality`);
  }
  if (!out.length) out.push(fit.fits ? "nothing: it fits as it is" : "nothing on this GPU makes it fit; see the plan below");
  return out;
}
// after the verdict: the runtimes side by side, plan and advice, and what to change
export async function renderAfterFit(fit, body, s, mine, signal) {
  $("fit-box").hidden = false;
  $("change-box").hidden = false;
  $("change").replaceChildren(el("li", { class: "hint" }, "working it out…"));
  const req = gpuBody(body, s);
  // one after another: each request has the server's time budget to itself
  const plan = await api("/api/plan", req, signal).catch((e) => ({ error: e.message }));
  const advice = await api("/api/advise", req, signal).catch((e) => ({ error: e.message }));
  if (mine !== state.seq) return;
  const runtimes = await renderRuntimes(body, s, signal);
  if (mine !== state.seq) return;
  renderPlan(plan);
  renderAdvice(advice, s);
  $("change").replaceChildren(...changes(fit, s, plan, advice, runtimes).map((t) => el("li", {}, t)));
  await renderMatrix(body, s, signal);
}
export function hideGpuParts() {
  for (const id of ["fit-box", "runtimes-box", "change-box", "runtime-assumed", "matrix-box"]) $(id).hidden = true;
}
export { usualRuntime };
