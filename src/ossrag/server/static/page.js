/* ossrag's page, 5/5: the knowledge bases, the keyboard, and start-up.
 *
 * Loaded last (index.html: api, banners, chat, upload, page). Ask a knowledge base, watch the
 * answer stream in, read its sources, add documents.
 */
(function () {
  "use strict";

  const O = window.Ossrag;
  const $ = O.$;
  const state = O.state;

  async function loadKbs(quiet) {
    const response = await O.api("v1/models");
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
      option.textContent = kb.id + rows + (kb.info.ingesting ? " — indexing…" : "");
      if (kb.info.description) option.title = kb.info.description;
      select.append(option);
      const entry = document.createElement("option");
      entry.value = kb.id;
      list.append(entry);
    }
    if (want && state.kbs.some((kb) => kb.id === want)) select.value = want;
    if (!$("upload-kb").value) $("upload-kb").value = select.value || "docs";
    $("empty").hidden = state.turns > 0;
    if (!state.kbs.length && !quiet) {
      O.banner("info", "No knowledge base yet.", "Add documents on the right to create one.");
    }
  }

  async function init() {
    try {
      await loadKbs();
    } catch (err) {
      O.explain(err, "listing the knowledge bases");
    }
  }

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
      O.clearBanners();
    });
  }

  Object.assign(O, { loadKbs, init });
  O.setupKey();
  O.setupAsk();
  O.setupUpload();
  setupKeys();
  init();
  $("question").focus();
})();
