// Photo page: heat-map toggle and opacity, the salient crop box, the photo's display size,
// drawing a region to search with (pointer or keyboard), and live status. Also the
// search-results page: it polls the query and shows the results the moment they are ready.
(function () {
  "use strict";
  const POLL_MS = 700;

  // --- overlay and crop box ---
  const overlay = document.getElementById("overlay");
  const toggle = document.getElementById("overlay-toggle");
  const opacity = document.getElementById("overlay-opacity");
  if (overlay && toggle) {
    const apply = () => {
      overlay.hidden = !toggle.checked;
      overlay.style.opacity = opacity ? opacity.value / 100 : 1;
    };
    toggle.addEventListener("change", apply);
    if (opacity) {
      opacity.addEventListener("input", () => {
        if (!toggle.checked) { toggle.checked = true; window.gallery.remember(toggle); }
        apply();
      });
    }
    apply();
  }
  const cropToggle = document.getElementById("crop-toggle");
  const cropBox = document.getElementById("crop-box");
  if (cropToggle && cropBox) {
    const applyCrop = () => { cropBox.hidden = !cropToggle.checked; };
    cropToggle.addEventListener("change", applyCrop);
    applyCrop();
  }

  // --- the photo's size ---
  // The stage fills the photo column (and at most 75 % of the window's height), so a small photo
  // is scaled up by the browser's smooth interpolation instead of sitting at its own 320 px in a
  // page laid out for large ones; but never beyond MAX_UPSCALE times its pixels, where it would
  // only turn soft. Without this script the photo shows at its own size, capped by the CSS.
  const MAX_UPSCALE = 2.5;
  const photoStage = document.querySelector(".photo .stage");
  if (photoStage) {
    const base = photoStage.querySelector("img.base");
    const natural = [Number(photoStage.dataset.width), Number(photoStage.dataset.height)];
    const fit = () => {
      const column = photoStage.parentElement.clientWidth;
      const byHeight = 0.75 * window.innerHeight * natural[0] / natural[1];
      base.style.width = Math.floor(Math.min(column, byHeight, MAX_UPSCALE * natural[0])) + "px";
    };
    if (natural[0] > 0 && natural[1] > 0) {
      fit();
      new ResizeObserver(fit).observe(photoStage.parentElement);
      window.addEventListener("resize", fit);
    }
  }

  // --- region search ---
  const stage = document.getElementById("stage");
  const region = document.getElementById("region");
  const regionForm = document.getElementById("region-form");
  if (stage && region && regionForm) {
    const width = Number(stage.dataset.width), height = Number(stage.dataset.height);
    const startButton = document.getElementById("region-start");
    const submit = document.getElementById("region-submit");
    const cancel = document.getElementById("region-cancel");
    const help = document.getElementById("region-help");
    let box = null; // [left, top, right, bottom] in photo pixels
    let drawing = false, anchor = null;

    const toPhoto = (event) => {
      const rect = stage.querySelector("img.base").getBoundingClientRect();
      const x = Math.min(Math.max(event.clientX - rect.left, 0), rect.width);
      const y = Math.min(Math.max(event.clientY - rect.top, 0), rect.height);
      return [Math.round(x / rect.width * width), Math.round(y / rect.height * height)];
    };
    const show = () => {
      region.hidden = !box;
      if (!box) return;
      window.gallery.placeBox(region, box, width, height);
      ["left", "top", "right", "bottom"].forEach((name, i) => { regionForm.elements[name].value = box[i]; });
      submit.disabled = box[2] - box[0] < 16 || box[3] - box[1] < 16;
    };
    const setMode = (on) => {
      stage.classList.toggle("drawing", on);
      [submit, cancel, help].forEach((el) => { el.hidden = !on; });
      startButton.hidden = on;
      if (on && !box) {
        // Start from the middle half, so a keyboard user has something to move.
        box = [Math.round(width / 4), Math.round(height / 4), Math.round(3 * width / 4), Math.round(3 * height / 4)];
      }
      if (!on) box = null;
      show();
      if (on) region.focus();
    };
    startButton.addEventListener("click", () => setMode(true));
    cancel.addEventListener("click", () => setMode(false));

    stage.addEventListener("pointerdown", (event) => {
      if (!stage.classList.contains("drawing")) return;
      event.preventDefault();
      drawing = true;
      anchor = toPhoto(event);
      box = [anchor[0], anchor[1], anchor[0], anchor[1]];
      stage.setPointerCapture(event.pointerId);
      show();
    });
    stage.addEventListener("pointermove", (event) => {
      if (!drawing) return;
      const [x, y] = toPhoto(event);
      box = [Math.min(anchor[0], x), Math.min(anchor[1], y), Math.max(anchor[0], x), Math.max(anchor[1], y)];
      show();
    });
    stage.addEventListener("pointerup", () => { drawing = false; });

    region.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !submit.disabled) { event.preventDefault(); regionForm.requestSubmit(submit); return; }
      if (event.key === "Escape") { event.preventDefault(); setMode(false); startButton.focus(); return; }
      const moves = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
      if (!box || !moves[event.key]) return;
      event.preventDefault();
      const step = Math.max(4, Math.round(Math.min(width, height) / 40));
      const [dx, dy] = moves[event.key].map((v) => v * step);
      let [l, t, r, b] = box;
      if (event.shiftKey) { r = Math.min(width, Math.max(l + 16, r + dx)); b = Math.min(height, Math.max(t + 16, b + dy)); }
      else {
        const w = r - l, h = b - t;
        l = Math.min(Math.max(0, l + dx), width - w); t = Math.min(Math.max(0, t + dy), height - h);
        r = l + w; b = t + h;
      }
      box = [l, t, r, b];
      show();
    });
  }

  // --- live status of the photo's analysis ---
  const article = document.querySelector(".photo[data-status-url]");
  async function pollPhoto() {
    try {
      const response = await fetch(article.dataset.statusUrl, { credentials: "same-origin" });
      const body = await response.json();
      if (body.status === "done" || body.status === "failed") { window.location.reload(); return; }
      const label = document.getElementById("analysis-status");
      label.textContent = body.status_label;
      label.className = "status status-" + body.status;
    } catch (err) { /* a network blip: try again on the next tick */ }
    setTimeout(pollPhoto, POLL_MS);
  }
  if (article && ["pending", "running"].includes(article.dataset.status)) setTimeout(pollPhoto, POLL_MS);

  // --- a search with a new photo or a region: results as soon as they are ready ---
  const query = document.getElementById("query");
  async function pollQuery() {
    try {
      const response = await fetch(query.dataset.statusUrl, { credentials: "same-origin" });
      const body = await response.json();
      const status = document.getElementById("query-status");
      if (body.status === "failed") {
        status.innerHTML = '<span class="error"></span>';
        status.firstChild.textContent = "The search failed: " + body.error;
        return;
      }
      if (body.status === "done") {
        const results = await fetch(query.dataset.resultsUrl, { credentials: "same-origin" });
        const section = document.querySelector(".similar");
        const pending = document.getElementById("similar-pending");
        const grid = document.createElement("ul");
        grid.className = "grid similar-grid";
        grid.innerHTML = await results.text();
        if (!grid.children.length) grid.innerHTML = '<li class="empty">No photos you may see are similar enough yet.</li>';
        if (pending) pending.replaceWith(grid); else section.append(grid);
        status.textContent = "Ready.";
        query.dataset.status = "done";
        window.gallery.syncResultOverlays();
        return;
      }
    } catch (err) { /* try again on the next tick */ }
    setTimeout(pollQuery, POLL_MS);
  }
  if (query && ["pending", "running"].includes(query.dataset.status)) setTimeout(pollQuery, 300);
})();
