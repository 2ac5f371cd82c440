/* ossrag's page: ask a knowledge base, watch the answer stream in, read its sources, add documents.
 *
 * It only speaks the server's public HTTP API (the same one any OpenAI client uses):
 *   GET  v1/models                      the knowledge bases
 *   POST v1/chat/completions            stream: reasoning deltas, content deltas, final chunk with
 *                                       `annotations` and the `ossrag` field (hits, citations, ...)
 *   GET  v1/kbs/{kb}/chunks/{id}        a source's passage (the hits' `url`)
 *   POST v1/ingest, GET v1/jobs/{id}    upload and its progress
 * URLs are relative to the page, so a server behind a path prefix works too.
 * The API key (when the server has one) is asked once and kept in sessionStorage.
 */
(function () {
  "use strict";

  const $ = (id) => document.getElementById(id);
  const render = window.OssragRender;
  const KEY_STORE = "ossrag.key";
  const state = {
    history: [], // [{role, content}] of finished turns, sent back for follow-ups
    turns: 0,
    busy: false,
    abort: null,
    kbs: [],
  };

  // ---- API access -------------------------------------------------------------------------

  class ApiFailure extends Error {
    constructor(status, body, retryAfter) {
      const err = (body && body.error) || {};
      super(err.message || (status ? "HTTP " + status : "the server cannot be reached"));
      this.status = status; // 0: no answer at all (server down)
      this.type = err.type || null;
      this.code = err.code || null;
      this.retryAfter = retryAfter;
    }
  }

  function headers(extra) {
    const h = Object.assign({}, extra || {});
    const key = sessionStorage.getItem(KEY_STORE);
    if (key) h.Authorization = "Bearer " + key;
    return h;
  }

  async function api(path, options) {
    const opts = Object.assign({}, options || {});
    opts.headers = headers(opts.headers);
    let response;
    try {
      response = await fetch(path, opts);
    } catch (err) {
      if (err && err.name === "AbortError") throw err;
      throw new ApiFailure(0, null, null);
    }
    if (!response.ok) {
      let body = null;
      try {
        body = await response.json();
      } catch (_) {
        body = null;
      }
      throw new ApiFailure(response.status, body, response.headers.get("Retry-After"));
    }
    return response;
  }

  /** Same-server path for a chunk URL (the server may announce itself under another host name). */
  function localUrl(url) {
    const u = new URL(url, document.baseURI);
    if (u.origin === location.origin) return u.href;
    const at = u.pathname.indexOf("/v1/");
    return new URL(u.pathname.slice(at + 1) + u.search, document.baseURI).href;
  }

  // ---- banners ----------------------------------------------------------------------------

  function banner(kind, title, detail, actions) {
    const box = document.createElement("div");
    box.className = "banner " + kind;
    box.setAttribute("role", kind === "info" ? "status" : "alert");
    const text = document.createElement("p");
    const strong = document.createElement("strong");
    strong.textContent = title;
    text.append(strong);
    if (detail) text.append(" " + detail);
    box.append(text);
    for (const [label, fn] of actions || []) {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "secondary";
      b.textContent = label;
      b.addEventListener("click", () => {
        box.remove();
        fn();
      });
      box.append(b);
    }
    const close = document.createElement("button");
    close.type = "button";
    close.className = "close";
    close.setAttribute("aria-label", "Dismiss");
    close.textContent = "×";
    close.addEventListener("click", () => box.remove());
    box.append(close);
    $("banners").replaceChildren(box); // one banner at a time: the latest problem
    return box;
  }

  function clearBanners() {
    $("banners").replaceChildren();
  }

  /** A banner that says what went wrong and what to do, for every failure of the API. */
  function explain(err, context) {
    if (!(err instanceof ApiFailure)) {
      banner("error", "Something went wrong " + context + ":", String(err && err.message || err));
      return;
    }
    const retry = err.retryAfter ? " Try again in " + err.retryAfter + " s." : "";
    if (err.status === 0) {
      banner("error", "The ossrag server does not answer.",
        "Is `ossrag serve` still running at " + location.origin + "?", [["Retry", init]]);
    } else if (err.status === 401 && err.code !== "upstream_auth") {
      const had = Boolean(sessionStorage.getItem(KEY_STORE));
      if (had) sessionStorage.removeItem(KEY_STORE);
      banner("error", had ? "The API key was refused." : "This server needs an API key.",
        "Enter the server's OSSRAG_API_KEY.", [["Enter key", () => askKey(had)]]);
      askKey(had);
    } else if (err.status === 503) {
      banner("warn", "The knowledge base is not ready.", err.message + retry);
    } else if (err.status === 429) {
      banner("warn", "Too many requests.", err.message + retry);
    } else if ((err.code || "").startsWith("upstream") || err.status === 502 || err.status === 504) {
      banner("error", "The answering model is unreachable or failed.",
        err.message + " — check the model name, or leave it empty for the server's default." + retry);
    } else if (err.status === 404 && err.code === "model_not_found") {
      banner("error", "Unknown knowledge base or model.", err.message);
    } else {
      banner("error", "Request failed " + context + " (" + err.status + "):", err.message);
    }
  }

  // ---- the key ----------------------------------------------------------------------------

  let keyRetry = null;

  function askKey(refused) {
    const dialog = $("key-dialog");
    $("key-reason").firstChild.textContent = refused
      ? "The key was refused; enter the server's key ("
      : "This server needs its API key (";
    $("key-input").value = "";
    keyRetry = init;
    if (!dialog.open) dialog.showModal();
    $("key-input").focus();
  }

  function setupKey() {
    const dialog = $("key-dialog");
    $("key-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const key = $("key-input").value.trim();
      if (!key) return;
      sessionStorage.setItem(KEY_STORE, key);
      dialog.close();
      clearBanners();
      if (keyRetry) keyRetry();
    });
    $("key-cancel").addEventListener("click", () => dialog.close());
    $("key-forget").addEventListener("click", () => {
      sessionStorage.removeItem(KEY_STORE);
      dialog.close();
    });
    $("key-button").addEventListener("click", () => askKey(false));
  }

  // ---- knowledge bases --------------------------------------------------------------------

  async function loadKbs() {
    const response = await api("v1/models");
    const data = await response.json();
    state.kbs = (data.data || []).map((m) => ({ id: m.id, info: m.ossrag || {} }));
    const select = $("kb");
    const want = select.value || sessionStorage.getItem("ossrag.kb");
    select.replaceChildren();
    const list = $("kb-names");
    list.replaceChildren();
    for (const kb of state.kbs) {
      const option = document.createElement("option");
      option.value = kb.id;
      const rows = kb.info.rows != null ? " (" + kb.info.rows + " passages)" : "";
      option.textContent = kb.id + rows;
      if (kb.info.description) option.title = kb.info.description;
      select.append(option);
      const entry = document.createElement("option");
      entry.value = kb.id;
      list.append(entry);
    }
    if (want && state.kbs.some((kb) => kb.id === want)) select.value = want;
    if (!$("upload-kb").value) $("upload-kb").value = select.value || "docs";
    $("empty").hidden = state.turns > 0;
    if (!state.kbs.length) {
      banner("info", "No knowledge base yet.", "Add documents on the right to create one.");
    }
  }

  async function init() {
    try {
      await loadKbs();
    } catch (err) {
      explain(err, "listing the knowledge bases");
    }
  }

  // ---- asking -----------------------------------------------------------------------------

  /** Split an SSE byte stream into parsed `data:` payloads ("[DONE]" stays a string). */
  async function* sse(response) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      buffer += decoder.decode(value || new Uint8Array(), { stream: !done });
      const events = buffer.split(/\r?\n\r?\n/);
      buffer = done ? "" : events.pop();
      for (const event of events) {
        const data = event.split(/\r?\n/).filter((l) => l.startsWith("data:"))
          .map((l) => l.slice(5).replace(/^ /, "")).join("\n");
        if (!data) continue; // comments (": keep-alive") and empty events
        yield data === "[DONE]" ? data : JSON.parse(data);
      }
      if (done) return;
    }
  }

  function newTurn(question) {
    state.turns += 1;
    const n = state.turns;
    const node = $("turn-template").content.firstElementChild.cloneNode(true);
    node.id = "turn-" + n;
    node.querySelector(".question-text").textContent = question;
    $("turns").append(node);
    $("empty").hidden = true;
    const reasoning = node.querySelector(".reasoning");
    const turn = {
      n, node, reasoningText: "", content: "", hits: [], cited: new Set(), meta: null,
      body: node.querySelector(".answer-body"),
      reasoning,
      reasoningPre: node.querySelector(".reasoning-text"),
    };
    // The raw reasoning is rendered only while its panel is open (it streams then).
    reasoning.addEventListener("toggle", () => {
      if (reasoning.open) turn.reasoningPre.textContent = turn.reasoningText;
    });
    node.scrollIntoView({ block: "end" });
    return turn;
  }

  let frame = 0;
  function paint(turn, final) {
    const draw = () => {
      frame = 0;
      if (turn.reasoningText) turn.reasoning.hidden = false;
      if (turn.reasoning.open) turn.reasoningPre.textContent = turn.reasoningText;
      if (turn.content || final) {
        const resolve = final ? (n) => citeTarget(turn, n) : null;
        turn.body.replaceChildren(render.markdown(turn.content, resolve));
      } else if (turn.reasoningText) {
        turn.body.firstElementChild.textContent = "Thinking…";
      }
    };
    if (final) {
      if (frame) cancelAnimationFrame(frame);
      draw();
    } else if (!frame) {
      frame = requestAnimationFrame(draw);
    }
  }

  function citeTarget(turn, n) {
    if (!turn.hits.some((h) => h.n === n)) return null;
    return { href: "#src-" + turn.n + "-" + n, label: "source " + n };
  }

  function modelId() {
    const kb = $("kb").value;
    const model = $("model").value.trim();
    return model ? kb + "@" + model : kb;
  }

  async function ask(question) {
    if (state.busy) return;
    if (!$("kb").value) {
      banner("warn", "Choose a knowledge base first", "(or add documents to create one).");
      return;
    }
    clearBanners();
    state.busy = true;
    setBusy(true);
    const turn = newTurn(question);
    const body = {
      model: modelId(),
      messages: state.history.concat([{ role: "user", content: question }]),
      stream: true,
      stream_options: { include_usage: true },
    };
    if ($("effort").value) body.reasoning_effort = $("effort").value;
    state.abort = new AbortController();
    let finished = false;
    try {
      const response = await api("v1/chat/completions", {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
        body: JSON.stringify(body),
        signal: state.abort.signal,
      });
      for await (const event of sse(response)) {
        if (event === "[DONE]") break;
        if (event.error) {
          const code = String(event.error.code || "");
          throw new ApiFailure(code.startsWith("upstream") ? 502 : 500, event);
        }
        if (event.ossrag) turn.meta = event.ossrag;
        const choice = (event.choices || [])[0];
        if (!choice) continue;
        const delta = choice.delta || {};
        const reasoning = delta.reasoning != null ? delta.reasoning : delta.reasoning_content;
        if (reasoning) turn.reasoningText += reasoning;
        if (delta.content) turn.content += delta.content;
        if (choice.finish_reason) {
          finished = true;
          turn.finish = choice.finish_reason;
        }
        paint(turn, false);
      }
      if (!finished) throw new Error("the answer stream ended without a final chunk");
      finish(turn);
      state.history.push({ role: "user", content: question },
        { role: "assistant", content: turn.content });
    } catch (err) {
      if (err && err.name === "AbortError") {
        turn.content += turn.content ? "\n\n*(stopped)*" : "*(stopped)*";
        paint(turn, true);
      } else {
        failed(turn, err);
      }
    } finally {
      turn.node.querySelector(".answer").setAttribute("aria-busy", "false");
      state.busy = false;
      state.abort = null;
      setBusy(false);
    }
  }

  function failed(turn, err) {
    paint(turn, true);
    turn.node.classList.add("failed");
    if (!turn.content) {
      turn.body.replaceChildren();
      const p = document.createElement("p");
      p.className = "failure";
      p.textContent = "No answer: " + (err && err.message ? err.message : String(err));
      turn.body.append(p);
    }
    explain(err, "while answering");
    if (!$("question").value) $("question").value = turn.node.querySelector(".question-text").textContent;
  }

  function finish(turn) {
    const meta = turn.meta || {};
    turn.hits = (meta.hits || []).slice();
    for (const c of meta.citations || []) turn.cited.add(c.n);
    paint(turn, true);
    showSources(turn);
    const bits = [];
    if (meta.model) {
      bits.push("answered by " + meta.model);
      // The page learns the server's default model from the first answer that used it.
      if (!$("model").value.trim()) $("model").placeholder = "server default (" + meta.model + ")";
    }
    if (meta.effort) bits.push("effort " + meta.effort);
    const timings = meta.timings || {};
    if (typeof timings.first_token_s === "number") bits.push("first token " + timings.first_token_s.toFixed(1) + " s");
    if (typeof timings.total_s === "number") bits.push("total " + timings.total_s.toFixed(1) + " s");
    if (turn.finish === "length") bits.push("cut off: the token budget ran out");
    for (const w of meta.warnings || []) bits.push("⚠ " + w);
    turn.node.querySelector(".meta").textContent = bits.join(" · ");
  }

  function showSources(turn) {
    const section = turn.node.querySelector(".sources");
    const list = section.querySelector(".source-list");
    list.replaceChildren();
    for (const hit of turn.hits) list.append(sourceItem(turn, hit));
    section.hidden = turn.hits.length === 0;
  }

  function sourceItem(turn, hit) {
    const li = document.createElement("li");
    li.id = "src-" + turn.n + "-" + hit.n;
    li.value = hit.n;
    const details = document.createElement("details");
    const summary = document.createElement("summary");
    const num = document.createElement("span");
    num.className = "num";
    num.textContent = "[" + hit.n + "]";
    const path = document.createElement("span");
    path.className = "path";
    path.textContent = hit.source || "?";
    summary.append(num, " ", path);
    if (hit.heading) {
      const heading = document.createElement("span");
      heading.className = "heading";
      heading.textContent = hit.heading;
      summary.append(" › ", heading);
    }
    if (typeof hit.score === "number") {
      const score = document.createElement("span");
      score.className = "score";
      score.textContent = hit.score.toFixed(3);
      score.title = "retrieval score";
      summary.append(" ", score);
    }
    if (turn.cited.has(hit.n)) {
      const badge = document.createElement("span");
      badge.className = "badge";
      badge.textContent = "cited";
      summary.append(" ", badge);
    }
    const passage = document.createElement("div");
    passage.className = "passage md";
    const snippet = document.createElement("p");
    snippet.className = "snippet";
    snippet.textContent = hit.snippet || "";
    passage.append(snippet);
    details.append(summary, passage);
    details.addEventListener("toggle", () => {
      if (details.open && !details.dataset.loaded) loadPassage(hit, details, passage);
    });
    li.append(details);
    return li;
  }

  async function loadPassage(hit, details, passage) {
    if (!hit.url) return;
    details.dataset.loaded = "loading";
    passage.setAttribute("aria-busy", "true");
    try {
      const response = await api(localUrl(hit.url));
      const chunk = await response.json();
      const text = render.markdown(chunk.text || "");
      passage.replaceChildren(text);
      if (chunk.origin && /^https?:/i.test(chunk.origin)) {
        const p = document.createElement("p");
        p.className = "origin";
        const a = document.createElement("a");
        a.href = chunk.origin;
        a.rel = "noopener noreferrer";
        a.target = "_blank";
        a.textContent = chunk.origin;
        p.append("From ", a);
        passage.append(p);
      }
      details.dataset.loaded = "yes";
    } catch (err) {
      delete details.dataset.loaded;
      const p = document.createElement("p");
      p.className = "failure";
      p.textContent = "Could not load the passage: " + err.message;
      passage.append(p);
      explain(err, "loading a passage");
    } finally {
      passage.setAttribute("aria-busy", "false");
    }
  }

  /** A click on [n]: open that source, bring it into view, move the focus there. */
  function followCitation(event) {
    const link = event.target.closest("a.cite");
    if (!link) return;
    event.preventDefault();
    const item = document.getElementById(link.getAttribute("href").slice(1));
    if (!item) return;
    const details = item.querySelector("details");
    details.open = true;
    item.scrollIntoView({ block: "nearest", behavior: "smooth" });
    item.classList.remove("flash");
    void item.offsetWidth; // restart the highlight animation
    item.classList.add("flash");
    details.querySelector("summary").focus();
  }

  function setBusy(busy) {
    $("send").disabled = busy;
    $("stop").hidden = !busy;
    $("send").textContent = busy ? "Answering…" : "Ask";
  }

  function setupAsk() {
    const question = $("question");
    $("ask").addEventListener("submit", (event) => {
      event.preventDefault();
      const text = question.value.trim();
      if (!text || state.busy) return;
      question.value = "";
      ask(text);
    });
    question.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.ctrlKey && !event.altKey
          && !event.metaKey && !event.isComposing) {
        event.preventDefault();
        $("ask").requestSubmit();
      }
    });
    $("stop").addEventListener("click", () => state.abort && state.abort.abort());
    $("new-chat").addEventListener("click", () => {
      if (state.abort) state.abort.abort();
      state.history = [];
      $("turns").replaceChildren();
      $("empty").hidden = false;
      clearBanners();
      question.focus();
    });
    $("turns").addEventListener("click", followCitation);
    $("kb").addEventListener("change", () => {
      sessionStorage.setItem("ossrag.kb", $("kb").value);
      $("upload-kb").value = $("kb").value;
    });
  }

  // ---- uploads ----------------------------------------------------------------------------

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
      banner("warn", "Choose files to upload first.", "");
      return;
    }
    const form = new FormData();
    form.append("kb", kb);
    for (const f of files) form.append("files", f, f.name);
    $("upload-button").disabled = true;
    $("upload-state").hidden = false;
    showJob({ status: "uploading", files_total: files.length, files_done: 0 });
    try {
      const response = await api("v1/ingest", { method: "POST", body: form });
      let job = await response.json();
      while (job.status === "queued" || job.status === "running") {
        showJob(job);
        await new Promise((r) => setTimeout(r, 300));
        job = await (await api("v1/jobs/" + encodeURIComponent(job.id))).json();
      }
      showJob(job);
      if (job.status === "failed") {
        banner("error", "Indexing failed:", job.error || "see the errors per file");
      } else {
        dropped = null;
        $("files").value = "";
        listFiles();
        await loadKbs();
        if (!$("kb").value || state.kbs.length === 1) $("kb").value = kb;
      }
    } catch (err) {
      $("upload-status").textContent = "upload failed: " + err.message;
      explain(err, "uploading");
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

  // ---- keyboard ---------------------------------------------------------------------------

  /** Esc closes the panel the focus is in (or every open one) and the banner. */
  function setupKeys() {
    document.addEventListener("keydown", (event) => {
      if (event.key !== "Escape" || $("key-dialog").open) return; // the dialog closes itself
      const inside = document.activeElement && document.activeElement.closest("details[open]");
      if (inside) {
        inside.open = false;
        inside.querySelector("summary").focus();
      } else {
        for (const d of document.querySelectorAll("#turns details[open]")) d.open = false;
      }
      clearBanners();
    });
  }

  setupKey();
  setupAsk();
  setupUpload();
  setupKeys();
  init();
  $("question").focus();
})();
