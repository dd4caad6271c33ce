// Precisions × workloads on the chosen GPU (POST /api/matrix: memfit.fit_matrix): one verdict per cell, the
// inference column with the runtime assumed at the form's context; each cell's reason on hover.
import { effectiveRuntime } from "./form.js";
import { $, api, el, shortSize, state } from "./util.js";

function question(body, s) {
  const q = { model: body.model, gpu: s.gpu, runtime: effectiveRuntime(s) };
  if (s.context) q.context = Number(s.context);
  if (s.batch && Number(s.batch) > 1) q.batch = Number(s.batch);
  return q;
}
function cellText(c) {
  if (c.fits === null) return "—";
  return c.fits ? `fits, ${shortSize(c.per_gpu_bytes)}` : `no, ${shortSize(c.per_gpu_bytes)}`;
}
function render(doc) {
  const labels = doc.workload_labels || {};
  const head = el("tr", {});
  head.append(el("th", {}, "weights"),
    ...doc.workloads.map((w) => el("th", {}, w === "inference" ? `inference (${doc.runtime})` : labels[w] || w)));
  $("matrix").querySelector("thead").replaceChildren(head);
  $("matrix").querySelector("tbody").replaceChildren(...doc.precisions.map((p) => {
    const tr = el("tr", { "data-precision": p });
    tr.append(el("th", {}, p));
    for (const w of doc.workloads) {
      const c = doc.cells.find((x) => x.precision === p && x.workload === w);
      tr.append(el("td", { "data-workload": w, "data-fits": String(c.fits), class: c.fits === null ? "none"
        : c.fits ? "ok" : "bad", title: `${c.format ? `${c.format}: ` : ""}${c.reason}` }, cellText(c)));
    }
    return tr;
  }));
  $("matrix-status").textContent = `${doc.model} on ${doc.device_name}, ${doc.context.toLocaleString("en-US")} tokens`
    + `${doc.batch > 1 ? `, batch ${doc.batch}` : ""}; hover a cell for its format and figures`;
}
// shown with a GPU chosen, after the verdict (one request, under the server's time budget like the others)
export async function renderMatrix(body, s, signal) {
  const box = $("matrix-box");
  box.hidden = !(state.info.features.matrix && s.gpu && body.model !== undefined);
  if (box.hidden) return;
  try {
    render(await api("/api/matrix", question(body, s), signal));
  } catch (e) {
    if (e.name === "AbortError") return;
    $("matrix").querySelector("tbody").replaceChildren();
    $("matrix-status").textContent = `matrix: ${e.message}`;
  }
}
