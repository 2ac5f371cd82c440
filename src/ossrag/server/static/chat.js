/* ossrag's page, 3/5: asking. One turn = the question, a collapsed "Reasoning" panel that streams
 * while open, the answer as safe Markdown (render.js) with its [n] marks linked to the sources,
 * and the sources (path, heading, score) that expand to their passage.
 *
 *   Ossrag.ask("What is Milvus Lite?");   // earlier finished turns go along as history
 */
(function () {
  "use strict";

  const O = window.Ossrag;
  const $ = O.$;
  const render = window.OssragRender;
  const state = O.state;

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
    if (turn.unnumbered || !turn.hits.some((h) => h.n === n)) return null;
    return { href: "#src-" + turn.n + "-" + n, label: "source " + n };
  }

  /** The request's `model`: KB, or KB@provider:model (a full id typed in the field wins). */
  function modelId() {
    const kb = $("kb").value;
    const model = $("model").value.trim();
    if (/^[A-Za-z_][A-Za-z0-9_]*@./.test(model)) return model;
    return model ? kb + "@" + model : kb;
  }

  async function ask(question) {
    if (state.busy) return;
    if (!$("kb").value) {
      O.banner("warn", "Choose a knowledge base first", "(or add documents to create one).");
      return;
    }
    O.clearBanners();
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
      const response = await O.api("v1/chat/completions", {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
        body: JSON.stringify(body),
        signal: state.abort.signal,
      });
      for await (const event of O.sse(response)) {
        if (event === "[DONE]") break;
        if (event.error) {
          const code = String(event.error.code || "");
          throw new O.ApiFailure(code.startsWith("upstream") ? 502 : 500, event);
        }
        if (event.ossrag) turn.meta = event.ossrag;
        const choice = (event.choices || [])[0];
        if (!choice) continue;
        const delta = choice.delta || {};
        const reasoning = delta.reasoning != null ? delta.reasoning : delta.reasoning_content;
        if (reasoning) turn.reasoningText += reasoning;
        if (delta.content) turn.content += delta.content;
        if (delta.annotations) turn.annotations = delta.annotations;
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
    O.explain(err, "while answering");
    if (!$("question").value) $("question").value = turn.node.querySelector(".question-text").textContent;
  }

  function finish(turn) {
    const meta = turn.meta || {};
    turn.hits = (meta.hits || []).slice();
    if (!turn.hits.length) {
      turn.hits = fromAnnotations(turn.annotations || []);
      turn.unnumbered = true; // their order need not match the [n] marks: no links
    }
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

  /** Sources from OpenAI-style url_citation annotations alone (a proxy may drop `ossrag`). */
  function fromAnnotations(annotations) {
    const seen = new Map();
    for (const a of annotations) {
      const c = a && a.type === "url_citation" && a.url_citation;
      if (c && c.url && !seen.has(c.url)) {
        seen.set(c.url, { n: seen.size + 1, source: c.title || c.url, url: c.url });
      }
    }
    return Array.from(seen.values());
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
      const response = await O.api(O.localUrl(hit.url));
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
      O.explain(err, "loading a passage");
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
      O.clearBanners();
      question.focus();
    });
    $("turns").addEventListener("click", followCitation);
    $("kb").addEventListener("change", () => {
      sessionStorage.setItem("ossrag.kb", $("kb").value);
      $("upload-kb").value = $("kb").value;
    });
  }

  Object.assign(O, { ask, setupAsk });
})();
