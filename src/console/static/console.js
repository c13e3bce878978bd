// sagebox console: live status, live logs, in-place test invocations and uploads in parts.
// Pages work without this script; it only makes them update by themselves.
"use strict";
(function () {
  const root = "/_sagebox/";
  // State-changing requests carry the page's CSRF token (forms hold it as a hidden field).
  const tokenMeta = document.querySelector('meta[name="csrf-token"]');
  const csrf = tokenMeta ? tokenMeta.content : "";

  // Live status: tables with data-live="<kind>" check that kind's statuses every 2 s; a row
  // that appeared, vanished or changed status reloads the page (so the actions shown match).
  const live = document.querySelector("table[data-live]");
  if (live) {
    const kind = live.dataset.live;
    setInterval(async () => {
      try {
        const r = await fetch(root + "status?kind=" + encodeURIComponent(kind), { cache: "no-store" });
        const all = await r.json();
        const rows = live.querySelectorAll("tr[data-name]");
        let changed = rows.length !== Object.keys(all).length;
        rows.forEach((tr) => {
          const cell = tr.querySelector("td.status");
          const now = all[tr.dataset.name];
          if (now === undefined || (cell && cell.textContent !== now)) changed = true;
        });
        if (changed) location.reload();
      } catch (e) { /* the server may be restarting */ }
    }, 2000);
  }

  // Live logs: append server-sent events to the stream's <pre>.
  const logs = document.querySelector("section#logs[data-live]");
  if (logs && window.EventSource) {
    const es = new EventSource(logs.dataset.events);
    es.addEventListener("log", (ev) => {
      const e = JSON.parse(ev.data);
      let pre = Array.from(logs.querySelectorAll("pre.log")).find((p) => p.dataset.stream === e.stream);
      if (!pre) {
        const h = document.createElement("h3");
        h.textContent = e.stream;
        pre = document.createElement("pre");
        pre.className = "log";
        pre.dataset.stream = e.stream;
        logs.append(h, pre);
        const empty = logs.querySelector(".empty");
        if (empty) empty.remove();
      }
      pre.append(document.createTextNode(e.message + "\n"));
      pre.scrollTop = pre.scrollHeight;
    });
    es.addEventListener("end", () => { es.close(); setTimeout(() => location.reload(), 500); });
  }

  // Test invocation in place.
  const invoke = document.querySelector("form#invoke");
  if (invoke) {
    invoke.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const out = document.querySelector("#invoke-result");
      const body = { ContentType: invoke.elements.ContentType.value, Body: invoke.elements.Body.value };
      const r = await fetch(invoke.dataset.json, {
        method: "POST", headers: { "Content-Type": "application/json", "X-Sagebox-Csrf": csrf }, body: JSON.stringify(body),
      });
      const res = await r.json();
      out.hidden = false;
      out.querySelector(".status").textContent = String(res.status);
      out.querySelector(".latency").textContent = res.millis.toFixed(1) + " ms";
      out.querySelector("pre.body").textContent = res.body;
    });
  }

  // Uploads in 8 MiB parts with a progress bar.
  const upload = document.querySelector("#upload");
  if (upload) {
    const PART = 8 * 1024 * 1024;
    const bar = upload.querySelector("#upload-progress");
    const status = upload.querySelector("#upload-status");
    const send = (method, url, body, onProgress) => new Promise((resolve, reject) => {
      const x = new XMLHttpRequest();
      x.open(method, url);
      x.setRequestHeader("X-Sagebox-Csrf", csrf);
      if (onProgress) x.upload.onprogress = (e) => onProgress(e.loaded);
      x.onload = () => (x.status < 300 ? resolve(JSON.parse(x.responseText)) : reject(new Error(x.responseText)));
      x.onerror = () => reject(new Error("network error"));
      x.send(body);
    });
    upload.querySelector("#upload-submit").addEventListener("click", async () => {
      const file = upload.querySelector("#upload-file").files[0];
      if (!file) { status.textContent = "Choose a file first."; return; }
      let folder = (upload.querySelector("#upload-folder") || { value: "" }).value.trim().replace(/^\/+/, "");
      if (folder && !folder.endsWith("/")) folder += "/";
      const key = upload.dataset.prefix + folder + file.name;
      const base = upload.dataset.action;
      const q = "key=" + encodeURIComponent(key);
      try {
        status.textContent = "Uploading " + key + "…";
        const started = await send("POST", base + "?" + q + "&contentType=" + encodeURIComponent(file.type || ""), null);
        const id = started.uploadId;
        const parts = [];
        let done = 0;
        for (let i = 0, n = 1; i < Math.max(file.size, 1); i += PART, n++) {
          const blob = file.slice(i, i + PART);
          const r = await send("PUT", base + "/" + id + "?" + q + "&part=" + n, blob, (loaded) => {
            bar.value = (100 * (done + loaded)) / Math.max(file.size, 1);
          });
          done += blob.size;
          parts.push([n, r.etag]);
          if (file.size === 0) break;
        }
        await send("POST", base + "/" + id + "?" + q, JSON.stringify({ parts: parts }));
        bar.value = 100;
        status.textContent = "Uploaded " + key + ".";
        location.reload();
      } catch (e) {
        status.textContent = "Upload failed: " + e.message;
      }
    });
  }

  // Notebooks: a form with data-confirm (an immediate delete) asks first; without this script
  // the delete goes ahead, as the button says.
  if (document.querySelector("form[data-confirm]")) {
    document.querySelectorAll("form[data-confirm]").forEach((f) => {
      f.addEventListener("submit", (ev) => {
        if (!window.confirm(f.dataset.confirm)) ev.preventDefault();
      });
    });
  }
})();

// Hosting forms: a serverless variant row shows its memory and concurrency instead of the
// instance type and count; an endpoint or transform job page that is still changing reloads
// when its status does (the pages read the same without this).
(function () {
  const rows = document.querySelectorAll("form#create-endpoint-config fieldset.variant");
  rows.forEach((row) => {
    const n = row.dataset.row;
    const box = row.querySelector('input[type="checkbox"][name$=".Serverless"]');
    if (!box) return;
    const part = (name) => [
      document.getElementById("field-variant." + n + "." + name),
      row.querySelector('label[for="field-variant.' + n + "." + name + '"]'),
    ];
    const show = () => {
      const on = box.checked;
      ["InstanceType", "InitialInstanceCount"].forEach((f) => part(f).forEach((e) => { if (e) e.hidden = on; }));
      ["MemorySizeInMB", "MaxConcurrency"].forEach((f) => part(f).forEach((e) => { if (e) e.hidden = !on; }));
    };
    box.addEventListener("change", show);
    show();
  });

  const m = location.pathname.match(/^\/_sagebox\/(endpoints|transform-jobs)\/([^/]+)$/);
  const badge = document.querySelector("main > p > .badge");
  const settled = ["InService", "Failed", "OutOfService", "Completed", "Stopped"];
  if (m && badge && !settled.includes(badge.textContent)) {
    const name = decodeURIComponent(m[2]);
    const was = badge.textContent;
    const timer = setInterval(async () => {
      try {
        const r = await fetch("/_sagebox/status?kind=" + m[1], { cache: "no-store" });
        const now = (await r.json())[name];
        if (now !== was) { clearInterval(timer); location.reload(); }
      } catch (e) { /* the server may be restarting */ }
    }, 2000);
  }
})();
