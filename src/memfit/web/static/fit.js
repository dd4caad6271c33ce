// Fit, plan and the formats that fit, for the GPU chosen from the hardware catalog.
import { renderGauge, renderVerdict } from "./render.js";
import { $, GB, api, el, shortSize, state } from "./util.js";

function gpuBody(body, s) {
  const out = { ...body, gpu: s.gpu };
  const dev = state.gpus.find((g) => g.id === s.gpu);
  const mem = Number(s.memory);
  if (dev && s.memory && Number.isFinite(mem) && mem > 0
      && Math.abs(mem * GB - dev.capacity_bytes) > 0.005 * dev.capacity_bytes) {
    out.memory = Math.round(mem * GB);  // the visitor changed the capacity
  }
  return out;
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
function renderAdvice(advice) {
  if (advice.error) {
    $("advice").replaceChildren(el("li", { class: "hint" }, `formats: ${advice.error}`));
    return;
  }
  const rows = (advice.fitting || []).slice(0, 8).map((r) => {
    const q = r.quality_cost_pct === null || r.quality_cost_pct === undefined
      ? "no published measurement" : `+${r.quality_cost_pct.toFixed(2)} % perplexity`;
    const li = el("li", { title: r.quality_basis || "" });
    li.append(el("strong", {}, r.format), document.createTextNode(
      ` ${shortSize(r.per_gpu_bytes)} per GPU, ${q}${r.format === advice.recommended ? " (recommended)" : ""}`));
    return li;
  });
  if (!rows.length) rows.push(el("li", {}, "no format fits this GPU with this workload"));
  $("advice").replaceChildren(...rows);
}
export async function renderFit(body, s, mine, signal) {
  const box = $("fit-box");
  if (!state.info.features.fit || !s.gpu) {
    box.hidden = true;
    return;
  }
  const req = gpuBody(body, s);
  box.hidden = false;
  $("fit").textContent = "checking…";
  $("fit").className = "";
  $("plan").replaceChildren();
  $("advice").replaceChildren();
  try {
    const fit = await api("/api/fit", req, signal);
    if (mine !== state.seq) return;
    const worst = Math.max(...fit.per_gpu_bytes);
    renderVerdict(fit.fits, fit.summary);
    renderGauge(worst, fit.capacity_bytes, ` per GPU on ${fit.gpus > 1 ? `${fit.gpus} × ` : ""}${fit.device_name}`);
    const lines = [fit.split, ...(fit.warnings || []), ...(fit.notes || [])].filter(Boolean);
    $("fit").className = "hint";
    $("fit").replaceChildren(...lines.map((t) => el("div", {}, t)));
  } catch (e) {
    if (mine !== state.seq) return;
    $("fit").className = "nofit";
    $("fit").textContent = `fit: ${e.message}`;
    return;
  }
  $("status").textContent = "planning…";
  const [plan, advice] = await Promise.all([
    api("/api/plan", req, signal).catch((e) => ({ error: e.message })),
    api("/api/advise", req, signal).catch((e) => ({ error: e.message })),
  ]);
  if (mine !== state.seq) return;
  renderPlan(plan);
  renderAdvice(advice);
}
