/* ossrag's page, 2/5: error banners that say what went wrong and what to do, and the key dialog.
 *
 *   Ossrag.explain(err, "while answering");   // server down, key missing/wrong, 503, model unreachable
 *   Ossrag.banner("info", "Title.", "detail");
 */
(function () {
  "use strict";

  const O = window.Ossrag;
  const $ = O.$;

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
    if (!(err instanceof O.ApiFailure)) {
      banner("error", "Something went wrong " + context + ":", String(err && err.message || err));
      return;
    }
    const retry = err.retryAfter ? " Try again in " + err.retryAfter + " s." : "";
    if (err.status === 0) {
      banner("error", "The ossrag server does not answer.",
        "Is `ossrag serve` still running at " + location.origin + "?", [["Retry", O.init]]);
    } else if (err.status === 401 && err.code !== "upstream_auth") {
      const had = Boolean(sessionStorage.getItem(O.KEY_STORE));
      if (had) sessionStorage.removeItem(O.KEY_STORE);
      banner("error", had ? "The API key was refused." : "This server needs an API key.",
        "Enter the server's OSSRAG_API_KEY.", [["Enter key", () => askKey(had)]]);
      askKey(had);
    } else if (err.status === 503) {
      banner("warn", "The knowledge base is not ready.", err.message + retry);
      // Show which one is indexing, and again when it should be done.
      O.loadKbs(true).catch(() => {});
      setTimeout(() => O.loadKbs(true).catch(() => {}), 1000 * (Number(err.retryAfter) || 5) + 500);
    } else if (err.status === 429) {
      banner("warn", "Too many requests.", err.message + retry);
    } else if ((err.code || "").startsWith("upstream") || err.status === 502 || err.status === 504) {
      const advice = $("model").value.trim()
        ? " — check the model name, or leave it empty for the server's default."
        : " — the server's default model; choose another one above, or ask its operator.";
      banner("error", "The answering model is unreachable or failed.", err.message + advice + retry);
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
    keyRetry = O.init;
    if (!dialog.open) dialog.showModal();
    $("key-input").focus();
  }

  function setupKey() {
    const dialog = $("key-dialog");
    $("key-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const key = $("key-input").value.trim();
      if (!key) return;
      sessionStorage.setItem(O.KEY_STORE, key);
      dialog.close();
      clearBanners();
      if (keyRetry) keyRetry();
    });
    $("key-cancel").addEventListener("click", () => dialog.close());
    $("key-forget").addEventListener("click", () => {
      sessionStorage.removeItem(O.KEY_STORE);
      dialog.close();
    });
    $("key-button").addEventListener("click", () => askKey(false));
  }

  Object.assign(O, { banner, clearBanners, explain, askKey, setupKey });
})();
