// The image viewer: the app's modal dialog (the page behind inert by
// showModal, Tab wrapping inside, Esc closes it) showing one image's large preview, its name and a download
// of the original; ← / → go through the images of the same message list as
// loaded, and focus goes back to the thumbnail of the image last shown.
//
// The images are read from the list's links (.msg-image[data-viewer]), in
// the order the list shows them: what is loaded is what can be browsed.

import { fileSize, h } from "../dom.js";
import { openDialog } from "../ui.js";

function imagesNear(link) {
  const list = link.closest("ol, ul") || document;
  return [...list.querySelectorAll(".msg-image[data-viewer]")];
}

function describe(link) {
  const data = link.dataset;
  return {
    id: data.attachment,
    name: data.name,
    src: data.large,
    width: Number(data.largeWidth) || undefined,
    height: Number(data.largeHeight) || undefined,
    original: data.original,
    size: Number(data.size) || 0,
  };
}

export function openViewer(opener) {
  let links = imagesNear(opener);
  let index = Math.max(0, links.indexOf(opener));
  let current = opener;

  const image = h("img", { class: "viewer-image", alt: "" });
  const position = h("span", { class: "viewer-position muted", "aria-live": "polite" });
  const download = h("a", { class: "btn small", text: "Download original" });
  const previous = h("button", { type: "button", class: "btn small", text: "← Previous", "aria-label": "Previous image", onclick: () => go(-1) });
  const next = h("button", { type: "button", class: "btn small", text: "Next →", "aria-label": "Next image", onclick: () => go(1) });

  const dialog = openDialog(
    "Image",
    h("figure", { class: "viewer-figure" }, image),
    h("div", { class: "viewer-bar" }, previous, position, next, download),
  );
  dialog.classList.add("viewer-dialog");
  const title = dialog.querySelector("#dialog-title");

  function show() {
    current = links[index];
    const item = describe(current);
    // The old picture is dropped first: it never shows under the new name.
    image.removeAttribute("src");
    if (item.width && item.height) {
      image.width = item.width;
      image.height = item.height;
    } else {
      image.removeAttribute("width");
      image.removeAttribute("height");
    }
    image.src = item.src;
    image.alt = item.name;
    title.textContent = item.name;
    position.textContent = links.length > 1 ? `${index + 1} of ${links.length}` : "";
    download.href = item.original;
    download.setAttribute("download", item.name);
    download.setAttribute("aria-label", `Download original: ${item.name} (${fileSize(item.size)})`);
    previous.disabled = index === 0;
    next.disabled = index === links.length - 1;
  }

  function go(step) {
    // The list may have grown (a new image, an older page) since the viewer opened.
    const fresh = imagesNear(current);
    if (fresh.length) {
      links = fresh;
      index = Math.max(0, links.indexOf(current));
    }
    const target = index + step;
    if (target < 0 || target >= links.length) return;
    index = target;
    show();
  }

  function onKey(event) {
    if (event.key === "ArrowLeft") {
      event.preventDefault();
      go(-1);
    } else if (event.key === "ArrowRight") {
      event.preventDefault();
      go(1);
    } else if (event.key === "Tab") {
      // showModal makes the page behind inert; this keeps Tab from leaving for the browser's own bar too.
      const items = [...dialog.querySelectorAll("button:not([disabled]), a[href]")];
      if (!items.length) return;
      const [first, last] = [items[0], items[items.length - 1]];
      if (event.shiftKey && document.activeElement === first) {
        event.preventDefault();
        last.focus();
      } else if (!event.shiftKey && document.activeElement === last) {
        event.preventDefault();
        first.focus();
      }
    }
  }

  dialog.addEventListener("keydown", onKey);
  dialog.addEventListener(
    "close",
    () => {
      dialog.removeEventListener("keydown", onKey);
      dialog.classList.remove("viewer-dialog");
      const back = current && current.isConnected ? current : opener;
      if (back && back.isConnected) back.focus();
    },
    { once: true },
  );
  show();
  dialog.querySelector(".dialog-head button").focus();
  return dialog;
}
