/* ossrag's page, 4/5: adding documents. Files (chosen or dropped) go to POST v1/ingest; the
 * progress bar follows the job (GET v1/jobs/{id}) to 100%, with the errors per file.
 */
(function () {
  "use strict";

  const O = window.Ossrag;
  const $ = O.$;
  const state = O.state;

  let dropped = null; // files dropped on the area (the file input cannot be set from them)

  function chosenFiles() {
    return dropped || Array.from($("files").files);
  }

  function listFiles() {
    const list = $("file-list");
    list.replaceChildren();
    for (const f of chosenFiles()) {
      const li = document.createElement("li");
      li.textContent = f.name + " (" + Math.max(1, Math.round(f.size / 1024)) + " KB)";
      list.append(li);
    }
  }

  /** Percent done: by files, and by passages within a single file (the job counts both). */
  function progress(job) {
    if (job.status === "done") return 100;
    let done = job.files_total ? job.files_done / job.files_total : 0;
    if (job.files_total === 1 && job.chunks_total) done = Math.max(done, job.chunks_done / job.chunks_total);
    return Math.min(99, Math.round(100 * done));
  }

  function showJob(job) {
    const bar = $("upload-progress");
    const pct = progress(job);
    bar.value = pct;
    bar.textContent = pct + "%";
    const parts = [job.status];
    if (job.files_total) parts.push(job.files_done + "/" + job.files_total + " files");
    if (job.chunks_total || job.chunks_done) {
      parts.push((job.chunks_done || 0) + (job.chunks_total ? "/" + job.chunks_total : "") + " passages");
    }
    parts.push(pct + "%");
    $("upload-status").textContent = parts.join(" · ");
    const errors = $("upload-errors");
    errors.replaceChildren();
    for (const e of job.errors || []) {
      const li = document.createElement("li");
      li.textContent = (e.source || "?") + ": " + (e.reason || "failed");
      errors.append(li);
    }
  }

  async function upload() {
    const files = chosenFiles();
    const kb = $("upload-kb").value.trim();
    if (!files.length) {
      O.banner("warn", "Choose files to upload first.", "");
      return;
    }
    const form = new FormData();
    form.append("kb", kb);
    for (const f of files) form.append("files", f, f.name);
    $("upload-button").disabled = true;
    $("upload-state").hidden = false;
    showJob({ status: "uploading", files_total: files.length, files_done: 0 });
    try {
      const response = await O.api("v1/ingest", { method: "POST", body: form });
      let job = await response.json();
      while (job.status === "queued" || job.status === "running") {
        showJob(job);
        await new Promise((r) => setTimeout(r, 300));
        job = await (await O.api("v1/jobs/" + encodeURIComponent(job.id))).json();
      }
      showJob(job);
      if (job.status === "failed") {
        O.banner("error", "Indexing failed:", job.error || "see the errors per file");
      } else {
        dropped = null;
        $("files").value = "";
        listFiles();
        await O.loadKbs();
        if (!$("kb").value || state.kbs.length === 1) $("kb").value = kb;
      }
    } catch (err) {
      $("upload-status").textContent = "upload failed: " + err.message;
      O.explain(err, "uploading");
    } finally {
      $("upload-button").disabled = false;
    }
  }

  function setupUpload() {
    const drop = $("drop");
    $("files").addEventListener("change", () => {
      dropped = null;
      listFiles();
    });
    drop.addEventListener("dragover", (event) => {
      event.preventDefault();
      drop.classList.add("over");
    });
    drop.addEventListener("dragleave", () => drop.classList.remove("over"));
    drop.addEventListener("drop", (event) => {
      event.preventDefault();
      drop.classList.remove("over");
      dropped = Array.from(event.dataTransfer.files);
      listFiles();
    });
    $("upload").addEventListener("submit", (event) => {
      event.preventDefault();
      upload();
    });
  }

  Object.assign(O, { setupUpload });
})();
