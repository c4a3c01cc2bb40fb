// wastesort operator page: plain JS against the /v1 API (no build step).
"use strict";

const $ = (sel) => document.querySelector(sel);
const tokenInput = $("#token");
tokenInput.value = sessionStorage.getItem("wastesort-token") || "";
tokenInput.addEventListener("change", () => {
  sessionStorage.setItem("wastesort-token", tokenInput.value);
  loadReview();
});

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

async function api(path, { method = "GET", body, admin = false, json } = {}) {
  const headers = {};
  if (admin && tokenInput.value) headers["Authorization"] = `Bearer ${tokenInput.value}`;
  if (json !== undefined) { headers["Content-Type"] = "application/json"; body = JSON.stringify(json); }
  const r = await fetch(path, { method, body, headers });
  const data = r.headers.get("content-type")?.includes("json") ? await r.json() : await r.text();
  if (!r.ok) throw new Error(data?.error?.message || `${r.status} ${r.statusText}`);
  return data;
}

const pct = (p) => `${(p * 100).toFixed(1)}%`;

function bars(topk) {
  return el("div", {}, ...topk.map((t) =>
    el("div", { class: "bar" }, el("span", {}, t.label),
      el("span", { class: "track", role: "img", "aria-label": `${t.label} ${pct(t.probability)}` },
        Object.assign(el("span", { class: "fill" }), { style: `width:${pct(t.probability)};display:block` })),
      el("span", {}, pct(t.probability)))));
}

// ---- classify ---------------------------------------------------------------------------
async function classify(files) {
  if (!files.length) return;
  const status = $("#classify-status");
  status.textContent = `Classifying ${files.length} photo(s)…`;
  const form = new FormData();
  for (const f of files) form.append("files", f, f.name);
  try {
    const res = await api("/v1/predict", { method: "POST", body: form });
    const list = $("#results");
    list.replaceChildren();
    res.predictions.forEach((p, i) => {
      const url = URL.createObjectURL(files[i]);
      list.append(el("li", { class: "card", "data-label": p.label },
        el("img", { src: url, alt: `photo ${p.filename}` }),
        el("div", {}, el("span", { class: "label" }, p.label),
          p.uncertain ? el("span", { class: "badge" }, "unsure") : ""),
        bars(p.top_k), el("small", {}, `${p.filename} · model ${p.model_version}`)));
    });
    status.textContent = `Done: ${res.predictions.length} photo(s), model ${res.model_version}.`;
    loadReview();
  } catch (e) {
    status.innerHTML = "";
    status.append(el("span", { class: "error" }, `Error: ${e.message}`));
  }
}

const drop = $("#drop");
$("#files").addEventListener("change", (e) => classify([...e.target.files]));
drop.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); $("#files").click(); } });
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => { e.preventDefault(); drop.classList.remove("over"); classify([...e.dataTransfer.files]); });

// ---- review queue -----------------------------------------------------------------------
const CLASSES = ["cardboard", "glass", "metal", "paper", "plastic", "trash"];

// images need the token too, so they are fetched and shown from a blob URL
function reviewImage(it) {
  const img = el("img", { alt: `uncertain photo ${it.filename}` });
  fetch(`/v1/review/${it.id}/image`, { headers: { Authorization: `Bearer ${tokenInput.value}` } })
    .then((r) => (r.ok ? r.blob() : Promise.reject(new Error(r.statusText))))
    .then((b) => { img.src = URL.createObjectURL(b); })
    .catch(() => { img.alt = `image unavailable: ${it.filename}`; });
  return img;
}

async function loadReview() {
  try {
    if (!tokenInput.value) {  // the queue holds other people's photos: admin only
      $("#review-list").replaceChildren(el("li", {}, "Enter the admin token to see the review queue."));
      return;
    }
    const res = await api("/v1/review?limit=50", { admin: true });
    $("#review-count").textContent = res.items.length;
    $("#labelled-count").textContent = res.labelled_waiting;
    $("#review-list").replaceChildren(...res.items.map((it) => {
      // one click sets the true label
      const label = async (ev, c) => {
        try {
          await api(`/v1/review/${it.id}`, { method: "POST", admin: true, json: { label: c } });
          loadReview();
        } catch (e) { ev.target.closest("li").append(el("p", { class: "error", role: "alert" }, e.message)); }
      };
      return el("li", { class: "card", "data-id": it.id },
        reviewImage(it),
        el("div", {}, `predicted ${it.label} (${pct(it.confidence)}, margin ${pct(it.margin)})`),
        el("div", { class: "labels", role: "group", "aria-label": `true class of ${it.filename}` },
          ...CLASSES.map((c) => el("button", { type: "button", class: c === it.label ? "" : "secondary",
            "aria-label": `label as ${c}`, onclick: (ev) => label(ev, c) }, c))));
    }));
  } catch (e) { $("#review-list").replaceChildren(el("li", { class: "error" }, e.message)); }
}
$("#review-refresh").addEventListener("click", loadReview);

// ---- models -----------------------------------------------------------------------------
async function loadModels() {
  try {
    const [info, versions] = await Promise.all([api("/v1/info"), api("/v1/models")]);
    const m = info.model;
    $("#model-line").textContent = m.version
      ? `Serving ${m.version} (${m.architecture}, ${m.engine}); val accuracy ${m.metrics?.val?.accuracy ? pct(m.metrics.val.accuracy) : "n/a"}` + (m.description ? ` · ${m.description}` : "")
      : "No model loaded yet: start a retrain below.";
    $("#model-rows").replaceChildren(...versions.slice().reverse().map((v) => {
      const val = v.metrics?.val || {};
      const fmt = (x) => (x === undefined ? "" : pct(x));
      return el("tr", { class: v.current ? "current" : "", "data-version": v.version },
        el("td", {}, v.version + (v.current ? " (current)" : "")), el("td", {}, v.mode || ""),
        el("td", {}, fmt(val.accuracy)), el("td", {}, fmt(val.min_precision)), el("td", {}, fmt(val.min_recall)),
        el("td", {}, v.created || ""),
        el("td", {},
          el("button", { type: "button", class: "secondary", onclick: () => showDetails(v) }, "Details"), " ",
          v.current ? "" : el("button", { type: "button", class: "secondary", onclick: () => promote(v.version) }, "Promote")));
    }));
    const shown = versions.find((v) => v.version === detailsVersion) || versions.find((v) => v.current);
    if (shown) showDetails(shown, false);
  } catch (e) { $("#model-line").textContent = `Error: ${e.message}`; }
}

let detailsVersion = null;

// Per-class precision/recall and the val confusion matrix (rows: true class, columns: predicted).
function showDetails(v, open = true) {
  detailsVersion = v.version;
  const val = v.metrics?.val || {};
  const per = val.per_class || {};
  const labels = Object.keys(per);
  const cm = val.confusion_matrix || [];
  const perTable = el("table", {}, el("caption", {}, `${v.version}: val per class`),
    el("tr", {}, el("th", {}, "class"), el("th", {}, "precision"), el("th", {}, "recall"), el("th", {}, "f1")),
    ...Object.entries(per).map(([c, m]) => el("tr", {}, el("td", {}, c), el("td", {}, pct(m.precision)),
      el("td", {}, pct(m.recall)), el("td", {}, pct(m.f1)))));
  const cmTable = el("table", { class: "cm", "aria-label": "confusion matrix, rows true class, columns predicted class" },
    el("caption", {}, "Confusion matrix on val (rows: true class, columns: predicted; shade = share of the row)"),
    el("tr", {}, el("th", {}, "true \\ predicted"), ...labels.map((l) => el("th", { scope: "col" }, l))),
    ...cm.map((row, i) => {
      const total = row.reduce((a, b) => a + b, 0) || 1;
      return el("tr", {}, el("th", { scope: "row" }, labels[i] || i), ...row.map((n) => Object.assign(
        el("td", { title: `${n} (${pct(n / total)} of true ${labels[i]})` }, n),
        { style: `background: rgba(11,110,79,${(n / total).toFixed(2)}); color: ${n / total > 0.5 ? "#fff" : "inherit"}` })));
    }));
  $("#per-class-body").replaceChildren(perTable, cmTable);
  if (open) $("#per-class").open = true;
}

async function promote(version) {
  try { await api(`/v1/models/${encodeURIComponent(version)}/promote`, { method: "POST", admin: true }); }
  catch (e) { alert(e.message); }
  loadModels();
}
$("#rollback").addEventListener("click", async () => {
  try { await api("/v1/models/rollback", { method: "POST", admin: true }); } catch (e) { alert(e.message); }
  loadModels();
});

$("#retrain-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const overrides = {};
  if ($("#epochs").value) overrides.epochs = Number($("#epochs").value);
  if ($("#lr").value) overrides.lr = Number($("#lr").value);
  const body = { mode: $("#mode").value, preset: $("#preset").value, overrides,
                 use_review: $("#use-review").checked, force: $("#force").checked };
  if ($("#limit").value) body.limit = Number($("#limit").value);
  const status = $("#job-status");
  try {
    const job = await api("/v1/retrain", { method: "POST", admin: true, json: body });
    status.textContent = `Job ${job.id} queued.`;
    watchJob(job.id);
  } catch (err) { status.textContent = `Error: ${err.message}`; }
});

async function watchJob(id) {
  const status = $("#job-status");
  const bar = $("#job-progress");
  bar.hidden = false;
  for (;;) {
    let job;
    try { job = await api(`/v1/jobs/${id}`); } catch (e) { status.textContent = e.message; return; }
    const p = job.progress || {};
    if (p.epoch && p.epochs) { bar.max = p.epochs; bar.value = p.epoch; }
    if (p.stage === "adapt") { bar.max = p.of; bar.value = p.tried; }
    const stage = { data: `preparing ${p.train} training photos`, features: `reading ${p.images} ${p.part} photos`,
                    adapt: `fitting the site head ${p.tried}/${p.of}`,
                    probe: `fitting the starting head on ${p.images} photos` }[p.stage] || p.stage;
    status.textContent = `Job ${id}: ${job.state}` + (p.epoch ? ` · epoch ${p.epoch}/${p.epochs}, val accuracy ${pct(p.val_acc)}`
      : p.stage ? ` · ${stage}` : "");
    if (job.state === "SUCCESS") {
      const r = job.result || {};
      status.textContent = r.cancelled ? `Job ${id} cancelled.` :
        `Job ${id} done: version ${r.version} ${r.promoted ? "is now current" : "kept, not promoted"} (${r.gate || ""}).`
        + (r.judged && r.judged.site ? ` Site photos: ${pct(r.judged.site.new_accuracy)} vs ${pct(r.judged.site.current_accuracy)} before.` : "");
      bar.hidden = true;
      loadModels();
      return;
    }
    if (job.state === "FAILURE") { status.textContent = `Job ${id} failed: ${job.error}`; bar.hidden = true; return; }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

loadModels();
loadReview();
setInterval(loadModels, 10000);

// `make run` queues the default recipe on a fresh install and links here with ?job=<id>
const queuedJob = new URLSearchParams(location.search).get("job");
if (queuedJob && /^[A-Za-z0-9-]+$/.test(queuedJob)) watchJob(queuedJob);
