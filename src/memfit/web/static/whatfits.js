// "What runs on my GPU": every catalog model on the chosen GPU with the runtime assumed (POST /api/fits, a job
// the server computes once; the page asks again every second until the list is there).
import { gpuBody } from "./fit.js";
import { effectiveRuntime } from "./form.js";
import { $, api, el, runtimeName, state } from "./util.js";

let asked = null;

function question(s) {
  const q = gpuBody({ runtime: effectiveRuntime(s) }, s);
  if (s.mode !== "weights" && s.context) q.context = Number(s.context);
  return q;
}
function rows(doc) {
  return doc.models.filter((m) => m.fits).map((m) => {
    const tr = el("tr", { "data-model": m.model, "data-format": m.format || "" });
    tr.append(el("td", {}, m.model), el("td", {}, m.format || "—"),
      el("td", { class: "num" }, m.max_context ? m.max_context.toLocaleString("en-US") : "—"));
    return tr;
  });
}
async function list(s) {
  const q = question(s);
  const key = JSON.stringify(q);
  asked = key;
  const status = $("whatfits-status");
  for (let tries = 0; tries < 120 && asked === key; tries++) {
    let doc;
    try {
      doc = await api("/api/fits", q);
    } catch (e) {
      if (e.status !== 429) {
        status.textContent = e.message;
        return;
      }
      doc = { status: "busy" };  // another list is being computed: wait for our turn
    }
    if (asked !== key) return;
    if (doc.status === "done") {
      const found = rows(doc);
      status.textContent = `${found.length} of ${doc.models.length} catalog models run with ${runtimeName(q.runtime)}`
        + `${q.context ? ` at ${q.context.toLocaleString("en-US")} tokens or more` : ""}`;
      $("whatfits").querySelector("tbody").replaceChildren(...found);
      $("whatfits").hidden = false;
      return;
    }
    status.textContent = "working it out (every catalog model, every format)…";
    await new Promise((r) => setTimeout(r, 1000));
  }
}
// shown with a GPU chosen, when this server has the list; the list itself is asked for with the button
export function showWhatFits(s) {
  const box = $("whatfits-box");
  box.hidden = !(state.info.features.fits && s.gpu);
  const key = JSON.stringify(question(s));
  if (asked !== key) {
    asked = null;
    $("whatfits").hidden = true;
    $("whatfits-status").textContent = "";
  }
  $("whatfits-go").onclick = () => list(s);
}
