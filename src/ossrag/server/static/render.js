/* Safe Markdown for ossrag's page: model output and document text become inert DOM.
 *
 *   const fragment = OssragRender.markdown(text, n => ({href: "#src-1-" + n, label: "source " + n}));
 *   element.replaceChildren(fragment);
 *
 * Three layers, each enough on its own for the common attacks:
 *  1. marked renders raw HTML in the text as *text* (a document that contains
 *     "<script>" shows those characters) and images as plain links, so nothing
 *     is ever loaded from elsewhere;
 *  2. DOMPurify keeps an allow-list of Markdown's own tags and attributes, and
 *     a hook keeps only http(s) and relative links, with rel=noopener noreferrer;
 *  3. the page's Content-Security-Policy (server/page.py) refuses inline
 *     script, remote images and connections anywhere but this server.
 * The result is a DocumentFragment: this file never assigns HTML strings to
 * the DOM (Trusted Types would refuse it), only DOMPurify parses them.
 */
(function () {
  "use strict";

  const ESC = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
  function escapeHtml(text) {
    return String(text == null ? "" : text).replace(/[&<>"']/g, (c) => ESC[c]);
  }

  const md = new window.marked.Marked({ gfm: true, breaks: false, async: false });
  md.use({
    renderer: {
      // Raw HTML (block or inline) is shown, never interpreted.
      html(token) {
        return escapeHtml(token.text);
      },
      // Images are never loaded: a link to them instead, labelled as an image.
      image(token) {
        const label = token.text || token.href || "image";
        return '<a href="' + escapeHtml(token.href || "") + '" class="image-link" title="image (not loaded)">'
          + "image: " + escapeHtml(label) + "</a>";
      },
    },
  });

  const TAGS = ["a", "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li",
    "blockquote", "pre", "code", "em", "strong", "del", "s", "table", "thead", "tbody", "tr",
    "th", "td", "sup", "sub", "span"];
  const CONFIG = {
    ALLOWED_TAGS: TAGS,
    ALLOWED_ATTR: ["href", "title", "class", "align", "start", "colspan", "rowspan"],
    // http(s), or no scheme at all (relative); DOMPurify drops every other URL.
    ALLOWED_URI_REGEXP: /^(?:https?:|[^a-z]|[a-z+.-]+(?:[^a-z+.\-:]|$))/i,
    ALLOW_DATA_ATTR: false,
    ALLOW_ARIA_ATTR: false,
    ALLOW_UNKNOWN_PROTOCOLS: false,
    FORBID_ATTR: ["style", "id", "name", "src", "srcset", "action", "formaction"],
    KEEP_CONTENT: true,
    RETURN_DOM_FRAGMENT: true,
  };
  // Classes from marked only (code languages, our image links): no look-alikes of the page's own UI.
  const SAFE_CLASS = /^(?:language-[\w+-]{1,40}|image-link)$/;

  const purify = window.DOMPurify;
  purify.addHook("uponSanitizeAttribute", (node, data) => {
    if (data.attrName === "class" && !SAFE_CLASS.test(data.attrValue)) data.keepAttr = false;
  });
  purify.addHook("afterSanitizeAttributes", (node) => {
    if (node.tagName !== "A") return;
    const href = node.getAttribute("href");
    if (href === null) return;
    let url = null;
    try {
      url = new URL(href, document.baseURI);
    } catch {
      url = null;
    }
    if (!url || (url.protocol !== "http:" && url.protocol !== "https:")) {
      node.removeAttribute("href"); // the text stays, the link is gone
      node.setAttribute("title", "link removed: only http(s) links are kept");
      return;
    }
    node.setAttribute("rel", "noopener noreferrer nofollow");
    if (url.origin !== window.location.origin) node.setAttribute("target", "_blank");
  });

  // The answer's citation marks: [1], [1, 2], [1; 3] (as ossrag's prompts ask for).
  const CITE = /\[(\d{1,3}(?:\s*[,;]\s*\d{1,3})*)\]/g;

  function linkCitations(root, resolve) {
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    const nodes = [];
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      if (!n.parentElement || !n.parentElement.closest("a, code, pre")) nodes.push(n);
    }
    for (const node of nodes) {
      const text = node.nodeValue;
      CITE.lastIndex = 0;
      if (!CITE.test(text)) continue;
      CITE.lastIndex = 0;
      const out = document.createDocumentFragment();
      let last = 0;
      for (let m = CITE.exec(text); m; m = CITE.exec(text)) {
        const numbers = m[1].split(/\s*[,;]\s*/);
        const targets = numbers.map((x) => resolve(Number(x)));
        if (!targets.some(Boolean)) continue;
        out.append(text.slice(last, m.index), "[");
        const seps = m[1].match(/\s*[,;]\s*/g) || [];
        numbers.forEach((x, i) => {
          const target = targets[i];
          if (target) {
            const a = document.createElement("a");
            a.className = "cite";
            a.href = target.href;
            a.textContent = x;
            a.setAttribute("aria-label", target.label);
            out.append(a);
          } else {
            out.append(x);
          }
          if (i < seps.length) out.append(seps[i]);
        });
        out.append("]");
        last = m.index + m[0].length;
      }
      if (last === 0) continue;
      out.append(text.slice(last));
      node.replaceWith(out);
    }
    return root;
  }

  /** Markdown -> sanitised DocumentFragment; `resolve(n)` links citation marks (optional). */
  function markdown(text, resolve) {
    const html = md.parse(String(text || ""));
    const fragment = purify.sanitize(html, CONFIG);
    return resolve ? linkCitations(fragment, resolve) : fragment;
  }

  window.OssragRender = Object.freeze({ markdown, linkCitations, escapeHtml });
})();
