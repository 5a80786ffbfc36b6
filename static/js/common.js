// Behaviour shared by every page: confirmations, "Show more" results, remembered display
// choices, overlays on result tiles, and boxes drawn over photos. No inline scripts anywhere, so
// the content security policy can forbid them.
(function () {
  "use strict";

  // Forms with data-confirm ask first, in a <dialog> when the page has one.
  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (!form.dataset || !form.dataset.confirm || form.dataset.confirmed) return;
    event.preventDefault();
    const dialog = document.getElementById("confirm-dialog");
    if (!dialog || typeof dialog.showModal !== "function") {
      if (window.confirm(form.dataset.confirm)) { form.dataset.confirmed = "1"; form.submit(); }
      return;
    }
    document.getElementById("confirm-text").textContent = form.dataset.confirm;
    dialog.returnValue = "";
    dialog.addEventListener("close", function onClose() {
      dialog.removeEventListener("close", onClose);
      if (dialog.returnValue === "ok") { form.dataset.confirmed = "1"; form.submit(); }
    });
    dialog.showModal();
  });

  // "Show more": fetch the next tiles and put them where the button was.
  document.addEventListener("click", async (event) => {
    const button = event.target.closest("button.more");
    if (!button) return;
    button.disabled = true;
    button.textContent = "Loading…";
    try {
      const response = await fetch(button.dataset.moreUrl, { credentials: "same-origin" });
      if (!response.ok) throw new Error(response.statusText);
      const slot = button.closest(".more-slot");
      slot.insertAdjacentHTML("afterend", await response.text());
      slot.remove();
      window.gallery.syncResultOverlays();
    } catch (err) {
      button.disabled = false;
      button.textContent = "Could not load more; try again";
    }
  });

  // Display choices (heat maps on or off, their opacity, the crop box) are remembered per person
  // in this browser: a control with data-remember keeps its state under that name, for the
  // account in data-remember-for. The page's HTML holds the defaults (heat maps on).
  const STORAGE_PREFIX = "saliency-gallery";
  const storageKey = (input) => [STORAGE_PREFIX, input.dataset.rememberFor || "guest", input.dataset.remember].join(":");
  function remember(input) {
    try {
      localStorage.setItem(storageKey(input), input.type === "checkbox" ? (input.checked ? "on" : "off") : input.value);
    } catch (err) { /* storage off or full: the choice lasts for this page only */ }
  }
  function recall(input) {
    let stored = null;
    try { stored = localStorage.getItem(storageKey(input)); } catch (err) { return; }
    if (stored === null) return;
    if (input.type === "checkbox") input.checked = stored === "on"; else input.value = stored;
  }
  document.querySelectorAll("input[data-remember]").forEach(recall);
  document.addEventListener("change", (event) => {
    if (event.target.dataset && event.target.dataset.remember) remember(event.target);
  });

  // The "Show saliency on results" switch.
  function syncResultOverlays() {
    document.querySelectorAll(".similar").forEach((section) => {
      const toggle = section.querySelector(".overlay-all");
      const on = toggle ? toggle.checked : false;
      section.querySelectorAll(".similar-tile .overlay").forEach((img) => { img.hidden = !on; });
    });
  }
  document.addEventListener("change", (event) => {
    if (event.target.classList && event.target.classList.contains("overlay-all")) syncResultOverlays();
  });

  // A box in the photo's pixels, drawn as percentages of its stage so it follows any size.
  function placeBox(element, box, width, height) {
    const [left, top, right, bottom] = box;
    element.style.left = (100 * left / width) + "%";
    element.style.top = (100 * top / height) + "%";
    element.style.width = (100 * (right - left) / width) + "%";
    element.style.height = (100 * (bottom - top) / height) + "%";
  }
  document.querySelectorAll(".crop-box[data-box]").forEach((element) => {
    const stage = element.closest("[data-width]");
    if (!stage) return;
    placeBox(element, element.dataset.box.split(",").map(Number), Number(stage.dataset.width), Number(stage.dataset.height));
  });

  window.gallery = { syncResultOverlays, placeBox, remember };
  syncResultOverlays();
})();
