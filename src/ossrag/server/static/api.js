/* ossrag's page, 1/5: talking to the server (loaded first; the others build on window.Ossrag).
 *
 *   const response = await Ossrag.api("v1/models");          // the bearer key added when set
 *   for await (const event of Ossrag.sse(response)) { ... }  // a stream's data: payloads
 *
 * The page only speaks the server's public HTTP API (the one any OpenAI client uses):
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

  const KEY_STORE = "ossrag.key";

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
      } catch {
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

  window.Ossrag = {
    $: (id) => document.getElementById(id),
    KEY_STORE, ApiFailure, api, localUrl, sse,
    state: {
      history: [], // [{role, content}] of finished turns, sent back for follow-ups
      turns: 0,
      busy: false,
      abort: null,
      kbs: [],
    },
  };
})();
