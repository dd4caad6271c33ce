// memfit web calculator: vanilla JS, no build step, no network beyond this server.
// The form state lives in the URL hash (#model=…&mode=…), so a result can be shared and restored.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const SVG = "http://www.w3.org/2000/svg";
  const GB = 1e9;
  const GIB = 1024 ** 3;
  const FIELDS = ["mode", "dtype", "runtime", "context", "batch", "new_tokens", "kv_dtype", "optimizer",
    "checkpointing", "lora_rank", "gpu", "memory", "gpus"];
  const INT_FIELDS = new Set(["context", "batch", "new_tokens", "lora_rank", "gpus"]);
  const DEFAULTS = {
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
  const COLORS = {
    weights: "#4e79a7", kv_cache: "#f28e2b", activations: "#e15759", logits: "#76b7b2", overhead: "#59a14f",
    cuda_context: "#edc948", allocator_reserve: "#b07aa1", gradients: "#ff9da7", optimizer_states: "#9c755f",
    master_weights: "#bab0ac", lora_weights: "#d37295", lora_gradients: "#a0cbe8", lora_optimizer_states: "#8cd17d",
  };
  const EXTRA = ["#8cd17d", "#b6992d", "#499894", "#f1ce63", "#d4a6c8", "#fabfd2", "#79706e", "#d7b5a6"];

  let info = { features: {}, formats: [] };
  let gpus = [];
  let seq = 0;
  let timer = null;
  let controller = null;

  // ---------- formatting ----------
  const int = (n) => Math.round(n).toLocaleString("en-US");
  function size(n) {
    if (Math.abs(n) >= 1e8) return `${(n / GB).toFixed(2)} GB (${(n / GIB).toFixed(2)} GiB)`;
    if (Math.abs(n) >= 1e5) return `${(n / 1e6).toFixed(2)} MB (${(n / 1024 ** 2).toFixed(2)} MiB)`;
    return `${int(n)} bytes`;
  }
  function shortSize(n) {
    if (Math.abs(n) >= 1e8) return `${(n / GB).toFixed(n >= 1e11 ? 0 : 1)} GB`;
    if (Math.abs(n) >= 1e5) return `${(n / 1e6).toFixed(0)} MB`;
    return `${int(n)} B`;
  }
  function count(n) {
    for (const [d, s] of [[1e12, "T"], [1e9, "B"], [1e6, "M"], [1e3, "K"]]) {
      if (n >= d) return `${int(n)} (${(n / d).toFixed(2)}${s})`;
    }
    return int(n);
  }
  function color(name, i) {
    const base = name.startsWith("host_") ? name.slice(5) : name;
    if (COLORS[base]) return COLORS[base];
    let h = 0;
    for (const ch of base) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
    return EXTRA[(h + i) % EXTRA.length];
  }
  function el(tag, attrs, text) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function svg(tag, attrs, text) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // ---------- state <-> form <-> URL ----------
  function source() {
    return document.querySelector('input[name="source"]:checked').value;
  }
  function readForm() {
    const s = { source: source(), model: $("model").value.trim(), config: $("config").value,
      count: $("count").value.trim() };
    for (const f of FIELDS) s[f] = $(f).value.trim();
    return s;
  }
  function writeForm(s) {
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
    const dev = gpus.find((g) => g.id === $("gpu").value);
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
  function toHash(s) {
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
  function fromHash(hash) {
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

  // ---------- requests ----------
  function requestBody(s) {
    const body = {};
    if (s.source === "config") {
      let cfg;
      try { cfg = JSON.parse(s.config); } catch (e) {
        throw new Error(`the pasted config.json is not valid JSON: ${e.message}`);
      }
      if (cfg === null || typeof cfg !== "object" || Array.isArray(cfg)) {
        throw new Error("the pasted config.json must be a JSON object ({ … })");
      }
      body.model = cfg;
    } else if (s.source === "count") {
      if (!s.count) throw new Error("write a parameter count, such as 7B");
      body.model = s.count;
    } else {
      if (!s.model) throw new Error("pick a model from the catalog (type to search)");
      body.model = s.model;
    }
    body.mode = s.mode;
    if (s.dtype) body.dtype = s.dtype;
    for (const f of MODE_FIELDS[s.mode] || []) {
      if (s[f] === "") continue;
      body[f] = INT_FIELDS.has(f) ? Number(s[f]) : s[f];
    }
    if (s.gpus !== "" && s.gpus !== "1") body.gpus = Number(s.gpus);
    return body;
  }
  async function api(path, body, signal) {
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

  // ---------- the result ----------
  function limitBytes(s) {
    const per = Number(s.memory);
    if (!s.memory || !Number.isFinite(per) || per <= 0) return null;
    const n = Math.max(1, Number(s.gpus) || 1);
    return per * GB * n;
  }
  function renderEstimate(est, s) {
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
    renderLocalFit(total, s);
    renderStack(est, s);
    renderTable(est);
    const notes = $("notes");
    notes.replaceChildren(...(est.notes || []).map((n) => el("li", {}, n)));
    if (est.host_bytes) notes.append(el("li", {}, `host RAM besides the GPU: ${size(est.host_bytes)}`));
  }
  function localLimitText(s) {
    const n = Math.max(1, Number(s.gpus) || 1);
    return `${n > 1 ? `${n} × ` : ""}${Number(s.memory).toLocaleString("en-US")} GB`;
  }
  function renderVerdict(fits, text) {
    const verdict = $("verdict");
    verdict.hidden = text === null;
    if (text === null) return;
    verdict.className = fits ? "fits" : "nofit";
    verdict.dataset.fits = String(fits);
    verdict.textContent = text;
  }
  function renderGauge(used, limit, label) {
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
  function renderStack(est, s) {
    const box = $("stack");
    const parts = deviceComponents(est).filter(([, v]) => v > 0);
    const total = parts.reduce((a, [, v]) => a + v, 0);
    const limit = limitBytes(s);
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
      li.append(sw, el("span", {}, `${name} ${shortSize(v)} (${((100 * v) / (total || 1)).toFixed(1)} %)`));
      legend.append(li);
    });
    box.replaceChildren(g, legend);
  }
  function renderTable(est) {
    const rows = Object.entries(est.components).map(([name, v], i) => {
      const tr = el("tr", { "data-component": name, "data-bytes": String(v) });
      const c = el("td");
      const sw = el("span", { class: "swatch" });
      sw.style.background = color(name, i);
      c.append(sw, document.createTextNode(name.startsWith("host_") ? `${name.slice(5)} (host RAM)` : name));
      tr.append(c, el("td", { class: "num" }, int(v)), el("td", { class: "num" }, size(v)),
        el("td", { class: "formula" }, (est.explain || {})[name] || ""));
      return tr;
    });
    document.querySelector("#components tbody").replaceChildren(...rows);
    $("foot-bytes").textContent = int(est.total_bytes);
    $("foot-size").textContent = size(est.total_bytes);
  }

  // ---------- charts (stacked areas, inline SVG) ----------
  function niceStep(max, n) {
    const raw = max / n;
    const mag = 10 ** Math.floor(Math.log10(raw));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * mag >= raw) return m * mag;
    return 10 * mag;
  }
  function drawChart(box, c, current, limit) {
    const W = 640, H = 320, L = 64, R = 16, T = 14, B = 44;
    const xs = c.points;
    const names = c.components.filter((n) => !n.startsWith("host_"));
    const totals = c.total_bytes;
    const ymax = Math.max(...totals, limit || 0) * 1.08 || 1;
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
    // stacked areas
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
    // total line with hover titles
    g.append(svg("polyline", { points: xs.map((x, j) => `${px(x).toFixed(1)},${py(totals[j]).toFixed(1)}`)
      .join(" "), fill: "none", stroke: "#222", "stroke-width": 1.5 }));
    xs.forEach((x, j) => {
      const dot = svg("circle", { cx: px(x), cy: py(totals[j]), r: 3.5, class: "dot",
        "data-x": x, "data-bytes": totals[j] });
      dot.append(svg("title", {}, `${c.x} ${int(x)}: ${size(totals[j])}`));
      g.append(dot);
    });
    if (limit) {
      const y = py(limit);
      g.append(svg("line", { x1: L, x2: W - R, y1: y, y2: y, stroke: "#c0392b", "stroke-width": 1.5,
        "stroke-dasharray": "6 4" }));
      g.append(svg("text", { x: W - R - 4, y: y - 5, "text-anchor": "end", class: "tick limit" },
        `GPU memory ${shortSize(limit)}`));
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
      c.x === "context" ? "context length (tokens)" : "batch (sequences)"));
    box.replaceChildren(g);
  }
  function drawDtypeChart(box, byDtype, current, limit) {
    const rows = Object.entries(byDtype || {});
    const fig = box.closest("figure");
    fig.hidden = rows.length === 0;
    if (!rows.length) return;
    const W = 640, row = 26, L = 90, R = 150, T = 6;
    const H = T + rows.length * row + 6;
    const top = Math.max(...rows.map(([, v]) => v), limit || 0) || 1;
    const g = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "weights at each precision" });
    rows.forEach(([name, v], i) => {
      const y = T + i * row;
      const w = ((W - L - R) * v) / top;
      const over = limit && v > limit;
      g.append(svg("text", { x: L - 8, y: y + 16, "text-anchor": "end",
        class: `tick${name === current ? " strong" : ""}` }, name));
      const r = svg("rect", { x: L, y: y + 3, width: Math.max(w, 1), height: row - 8,
        fill: over ? "#e15759" : "#4e79a7", opacity: name === current ? 1 : 0.75, "data-dtype": name,
        "data-bytes": v });
      r.append(svg("title", {}, `${name}: ${size(v)}`));
      g.append(r);
      g.append(svg("text", { x: L + w + 6, y: y + 16, class: "tick" }, size(v)));
    });
    if (limit) {
      const x = L + ((W - L - R) * limit) / top;
      g.append(svg("line", { x1: x, x2: x, y1: 0, y2: H, stroke: "#c0392b", "stroke-width": 1.5,
        "stroke-dasharray": "6 4" }));
    }
    box.replaceChildren(g);
  }
  async function renderCurves(body, s, mine, signal) {
    const dev = gpus.find((g) => g.id === s.gpu);
    const limit = limitBytes(s) || (dev ? dev.capacity_bytes * Math.max(1, Number(s.gpus) || 1) : null);
    const wanted = s.mode === "weights" ? [] : ["context", "batch"];
    for (const x of ["context", "batch"]) {
      const box = $(`chart-${x}`);
      box.closest("figure").hidden = !wanted.includes(x);
    }
    await Promise.all(wanted.map(async (x) => {
      const box = $(`chart-${x}`);
      try {
        const c = await api("/api/curve", { ...body, x }, signal);
        if (mine !== seq) return;
        drawChart(box, c, body[x], limit);
      } catch (e) {
        if (mine !== seq) return;
        box.replaceChildren(el("p", { class: "hint" }, `no chart: ${e.message}`));
      }
    }));
  }

  // ---------- fit / plan / advise (the hardware catalog) ----------
  function gpuBody(body, s) {
    const out = { ...body, gpu: s.gpu };
    const dev = gpus.find((g) => g.id === s.gpu);
    const mem = Number(s.memory);
    if (dev && s.memory && Number.isFinite(mem) && mem > 0
        && Math.abs(mem * GB - dev.capacity_bytes) > 0.005 * dev.capacity_bytes) {
      out.memory = Math.round(mem * GB);  // the visitor changed the capacity
    }
    return out;
  }
  async function renderFit(body, s, mine, signal) {
    const box = $("fit-box");
    if (!info.features.fit || !s.gpu) {
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
      if (mine !== seq) return;
      const worst = Math.max(...fit.per_gpu_bytes);
      renderVerdict(fit.fits, fit.summary);
      renderGauge(worst, fit.capacity_bytes, ` per GPU on ${fit.gpus > 1 ? `${fit.gpus} × ` : ""}${fit.device_name}`);
      const lines = [fit.split, ...(fit.warnings || []), ...(fit.notes || [])].filter(Boolean);
      $("fit").className = "hint";
      $("fit").replaceChildren(...lines.map((t) => el("div", {}, t)));
    } catch (e) {
      if (mine !== seq) return;
      $("fit").className = "nofit";
      $("fit").textContent = `fit: ${e.message}`;
      return;
    }
    $("status").textContent = "planning…";
    const [plan, advice] = await Promise.all([
      api("/api/plan", req, signal).catch((e) => ({ error: e.message })),
      api("/api/advise", req, signal).catch((e) => ({ error: e.message })),
    ]);
    if (mine !== seq) return;
    if (plan.error) {
      $("plan").replaceChildren(el("li", { class: "hint" }, `plan: ${plan.error}`));
    } else {
      $("plan").replaceChildren(...Object.values(plan.answers || {}).map((a) => {
        const li = el("li", { "data-question": a.question });
        li.append(el("strong", {}, `${a.question.replace(/_/g, " ")}: `),
          document.createTextNode(a.explanation || String(a.value)));
        return li;
      }));
    }
    if (advice.error) {
      $("advice").replaceChildren(el("li", { class: "hint" }, `formats: ${advice.error}`));
    } else {
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
  }

  // ---------- the loop ----------
  function setState(state, text) {
    $("result").dataset.state = state;
    $("status").textContent = text || "";
  }
  function showError(msg) {
    const box = $("error");
    box.textContent = msg;
    box.hidden = !msg;
  }
  async function compute() {
    clearTimeout(timer);
    const mine = ++seq;
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
      const est = await api("/api/estimate", body, signal);
      if (mine !== seq) return;
      showError("");
      renderEstimate(est, s);
      drawDtypeChart($("chart-dtype"), est.mode === "weights" ? est.weights_by_dtype : null, est.dtype,
        limitBytes(s));
      $("answer").hidden = false;
      history.replaceState(null, "", `#${hash}`);
      await Promise.all([renderCurves(body, s, mine, signal), renderFit(body, s, mine, signal)]);
      if (mine !== seq) return;
      $("result").dataset.rendered = hash;
      setState("done", "");
    } catch (e) {
      if (mine !== seq) return;
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
  function showSource() {
    const src = source();
    for (const d of document.querySelectorAll(".source")) d.hidden = d.dataset.source !== src;
  }
  function showModeFields() {
    const mode = $("mode").value;
    for (const lab of document.querySelectorAll("[data-modes]")) {
      lab.hidden = !lab.dataset.modes.split(" ").includes(mode);
    }
  }
  function modelInfo() {
    const id = $("model").value.trim().toLowerCase();
    const m = (window.memfitModels || []).find((r) => r.id === id || (r.aliases || []).includes(id));
    $("model-info").textContent = m ? `${m.repo}${m.parameters ? ` · ${count(m.parameters)} parameters` : ""}` : "";
  }

  async function init() {
    document.body.dataset.ready = "0";
    try {
      info = await api("/api/info");
    } catch (e) {
      info = { features: {}, formats: [] };
    }
    const dl = $("dtype-list");
    dl.replaceChildren(...(info.formats || []).map((f) => el("option", { value: f.name }, f.label || f.name)));
    try {
      const models = await api("/api/models");
      window.memfitModels = models;
      $("model-list").replaceChildren(...models.map((m) => el("option", { value: m.id },
        `${m.repo}${m.parameters ? ` · ${count(m.parameters)}` : ""}`)));
    } catch (e) {
      showError(`could not load the model list: ${e.message}`);
    }
    if (info.features.gpus) {
      try {
        gpus = await api("/api/gpus");
        const sel = $("gpu");
        const groups = new Map();
        for (const g of gpus) {
          const key = g.kind || "other";
          if (!groups.has(key)) groups.set(key, el("optgroup", { label: key }));
          groups.get(key).append(el("option", { value: g.id }, `${g.name} · ${shortSize(g.capacity_bytes)}`));
        }
        sel.append(...groups.values());
        $("gpu-label").hidden = false;
      } catch (e) { gpus = []; }
    }
    const form = $("form");
    form.addEventListener("submit", (e) => { e.preventDefault(); compute(); });
    form.addEventListener("input", (e) => {
      if (e.target.name === "source") showSource();
      if (e.target.id === "mode") showModeFields();
      if (e.target.id === "model") modelInfo();
      if (e.target.id === "gpu") {
        const dev = gpus.find((g) => g.id === e.target.value);
        $("memory").value = dev ? String(+(dev.capacity_bytes / GB).toFixed(2)) : "";
      }
      schedule();
    });
    form.addEventListener("change", (e) => {
      if (e.target.name === "source") showSource();
      if (e.target.id === "mode") showModeFields();
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
    writeForm(location.hash.length > 1 ? fromHash(location.hash) : DEFAULTS);
    modelInfo();
    document.body.dataset.ready = "1";
    await compute();
  }

  document.addEventListener("DOMContentLoaded", init);
})();
