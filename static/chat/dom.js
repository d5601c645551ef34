// DOM helpers. User data only ever becomes text nodes (textContent) or
// attribute values; nothing here parses HTML.

import { dayOf, formatter } from "./zone.js";

const PROPERTIES = new Set(["hidden", "disabled", "checked", "value", "selected", "multiple", "required"]);

export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "text") el.textContent = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (PROPERTIES.has(key)) el[key] = value;
    else if (key === "innerHTML" || key === "style") throw new Error(`h(): ${key} is not allowed`);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export const $ = (selector, root = document) => root.querySelector(selector);

const URL_PATTERN = /\bhttps?:\/\/[^\s<>"']+/gi;

// Text with its http(s) links as anchors; everything else stays text.
export function linkified(text) {
  const nodes = [];
  let last = 0;
  for (const match of text.matchAll(URL_PATTERN)) {
    let url = match[0];
    const trailing = url.match(/[.,;:!?)\]]+$/);
    if (trailing) url = url.slice(0, -trailing[0].length);
    let href = null;
    try {
      const parsed = new URL(url);
      if (parsed.protocol === "http:" || parsed.protocol === "https:") href = parsed.href;
    } catch (_error) {
      href = null;
    }
    if (!href) continue;
    if (match.index > last) nodes.push(text.slice(last, match.index));
    nodes.push(h("a", { href, target: "_blank", rel: "noopener noreferrer nofollow", text: url }));
    last = match.index + url.length;
  }
  if (last < text.length) nodes.push(text.slice(last));
  return nodes;
}

// A message's formatted text: the server's sanitized HTML (chat/formatting.py),
// parsed in an inert document and rebuilt node by node from the same allowlist,
// so nothing the server would not send can reach the page even if it did.
// textNode(text, parents) returns what replaces a text node (a string or
// nodes): mentions are marked there; parents are the tag names above it.
const FORMAT_TAGS = new Set(["P", "BR", "STRONG", "EM", "S", "CODE", "PRE", "BLOCKQUOTE", "UL", "OL", "LI", "A"]);
const LINK_SCHEMES = new Set(["http:", "https:", "mailto:"]);

export function safeHref(value) {
  try {
    const url = new URL(value);
    return LINK_SCHEMES.has(url.protocol) ? url.href : null;
  } catch (_error) {
    return null;
  }
}

export function formatted(html, textNode = (text) => text) {
  const fragment = document.createDocumentFragment();
  const parsed = new DOMParser().parseFromString(`<body>${html || ""}</body>`, "text/html");
  const copy = (from, into, parents) => {
    for (const node of from.childNodes) {
      if (node.nodeType === Node.TEXT_NODE) {
        append(into, [textNode(node.data, parents)]);
        continue;
      }
      if (node.nodeType !== Node.ELEMENT_NODE) continue;
      if (!FORMAT_TAGS.has(node.tagName)) {
        copy(node, into, parents); // an unknown wrapper: keep its text only
        continue;
      }
      const el = document.createElement(node.tagName.toLowerCase());
      if (node.tagName === "A") {
        const href = safeHref(node.getAttribute("href"));
        if (!href) {
          copy(node, into, parents);
          continue;
        }
        Object.assign(el, { href, target: "_blank", rel: "noopener noreferrer nofollow" });
      } else if (node.tagName === "CODE" && /^language-[\w+#.-]{1,32}$/.test(node.getAttribute("class") || "")) {
        el.className = node.getAttribute("class");
      } else if (node.tagName === "OL" && /^\d{1,6}$/.test(node.getAttribute("start") || "")) {
        el.setAttribute("start", node.getAttribute("start"));
      }
      copy(node, el, [...parents, node.tagName]);
      into.append(el);
    }
  };
  copy(parsed.body, fragment, []);
  return fragment;
}

export function initials(name) {
  const words = String(name || "?").trim().split(/\s+/).filter((word) => /^[\p{L}\p{N}]/u.test(word));
  if (!words.length) return "#";
  const letters = words.length > 1 ? [...words[0]][0] + [...words[1]][0] : [...words[0]][0];
  return letters.toUpperCase();
}

// A person's round avatar: their picture (the smallest rendering at least
// `px` wide, for sharp pixels on dense screens), or their initials when they
// have none or it fails to load. Decorative: the name is always beside it.
export function avatarOf(person, name, { className = "avatar", px = 40 } = {}) {
  const el = h("span", { class: className, "aria-hidden": "true" });
  const urls = person && person.avatar;
  const wanted = Math.ceil(px * Math.min(window.devicePixelRatio || 1, 2));
  const size = urls ? Object.keys(urls).map(Number).sort((a, b) => a - b).find((s) => s >= wanted) || Math.max(...Object.keys(urls).map(Number)) : null;
  if (!size) {
    el.textContent = initials(name);
    return el;
  }
  el.classList.add("has-picture");
  el.dataset.avatar = person.id || "";
  const img = h("img", { src: urls[String(size)], alt: "", width: px, height: px, loading: "lazy", decoding: "async", class: "avatar-picture" });
  img.addEventListener("error", () => {
    el.classList.remove("has-picture");
    img.remove();
    el.prepend(initials(name));
  });
  el.append(img);
  return el;
}

// Times are shown in the display zone (zone.js: the profile's, or the browser's).
const TIME = { hour: "2-digit", minute: "2-digit" };
const DAY = { month: "short", day: "numeric" };
const FULL = { dateStyle: "medium", timeStyle: "short" };

export function shortTime(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  return dayOf(date) === dayOf(new Date()) ? formatter(TIME).format(date) : formatter(DAY).format(date);
}

export function messageTime(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  if (dayOf(date) === dayOf(new Date())) return formatter(TIME).format(date);
  return `${formatter(DAY).format(date)}, ${formatter(TIME).format(date)}`;
}

export function fullTime(iso) {
  return iso ? formatter(FULL).format(new Date(iso)) : "";
}

export function fileSize(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(bytes < 10240 ? 1 : 0)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

export function uuid4() {
  if (window.crypto && typeof window.crypto.randomUUID === "function") return window.crypto.randomUUID();
  // crypto.randomUUID needs a secure context; getRandomValues does not.
  const bytes = window.crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export function debounce(fn, wait) {
  let timer = null;
  const wrapped = (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), wait);
  };
  wrapped.cancel = () => clearTimeout(timer);
  return wrapped;
}
