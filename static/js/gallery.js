// "My photos": drag-and-drop upload with a progress bar per file, then each photo's analysis
// status live (waiting, analysing, done, failed with the reason); each new photo joins the grid
// and its count at once, and the grid's badges and thumbnails follow the analysis.
(function () {
  "use strict";
  const form = document.getElementById("upload-form");
  const list = document.getElementById("uploads");
  const POLL_MS = 1000;
  const grid = document.querySelector(".grid[data-live-status]");
  const statusUrl = (list && list.dataset.statusUrl) || (grid && grid.dataset.liveStatus);
  const watched = new Map(); // photo id -> elements to update (its upload row, its grid tile)
  let polling = false;

  function csrfToken() {
    return form.querySelector("input[name=csrfmiddlewaretoken]").value;
  }

  function row(file) {
    const item = document.createElement("li");
    item.className = "upload-item";
    item.innerHTML = '<span class="name"></span><progress max="100" value="0"></progress><span class="state">Uploading…</span>';
    item.querySelector(".name").textContent = file.name;
    list.prepend(item);
    return item;
  }

  function showStatus(item, photo) {
    const state = item.querySelector(".state");
    state.className = "state status-" + photo.status;
    state.textContent = photo.status_label + (photo.status === "failed" && photo.error ? ": " + photo.error : "");
    item.dataset.status = photo.status;
    if (photo.status === "done" || photo.status === "failed") {
      const link = item.querySelector("a.open");
      if (!link) {
        const a = document.createElement("a");
        a.className = "open";
        a.href = photo.url;
        a.textContent = "Open";
        item.append(" ", a);
      }
    }
    if (photo.thumbnail_url && !item.querySelector("img")) {
      const img = document.createElement("img");
      img.src = photo.thumbnail_url;
      img.alt = photo.title;
      img.width = 48; img.height = 48;
      item.prepend(img);
    } else if (photo.thumbnail_url && photo.status === "done") {
      item.querySelector("img").src = photo.thumbnail_url; // now cropped by saliency
    }
  }

  function upload(file, visibility) {
    const item = row(file);
    const bar = item.querySelector("progress");
    const body = new FormData();
    body.append("file", file);
    body.append("visibility", visibility);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.setRequestHeader("X-CSRFToken", csrfToken());
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) bar.value = Math.round(100 * event.loaded / event.total);
    });
    xhr.addEventListener("load", () => {
      bar.value = 100;
      let answer = {};
      try { answer = JSON.parse(xhr.responseText); } catch (err) { /* not JSON: handled below */ }
      const state = item.querySelector(".state");
      if (xhr.status === 201) {
        item.dataset.photoId = answer.photo.id;
        showStatus(item, answer.photo);
        watch(answer.photo.id, item);
        const tile = addTile(answer.tile);
        if (tile) watch(answer.photo.id, tile);
        poll();
      } else if (answer.code === "duplicate") {
        state.className = "state duplicate";
        state.innerHTML = 'Already in your gallery: <a class="open"></a>';
        const link = state.querySelector("a");
        link.href = answer.photo.url;
        link.textContent = answer.photo.title;
      } else {
        state.className = "state status-failed";
        state.textContent = answer.error || ("Upload failed (" + (xhr.status || "network error") + ")");
      }
    });
    xhr.addEventListener("error", () => {
      const state = item.querySelector(".state");
      state.className = "state status-failed";
      state.textContent = "Upload failed: the connection dropped. Try again.";
    });
    xhr.send(body);
  }

  async function poll() {
    if (polling) return;
    polling = true;
    while (watched.size) {
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      try {
        const ids = Array.from(watched.keys()).join(",");
        const response = await fetch(statusUrl + "?ids=" + ids, { credentials: "same-origin" });
        const body = await response.json();
        body.photos.forEach((photo) => {
          (watched.get(photo.id) || []).forEach((element) => {
            if (element.classList.contains("tile")) updateTile(element, photo); else showStatus(element, photo);
          });
          if (photo.status === "done" || photo.status === "failed") watched.delete(photo.id);
        });
      } catch (err) { /* a network blip: the next tick tries again */ }
    }
    polling = false;
  }

  function updateTile(tile, photo) {
    tile.dataset.status = photo.status;
    const badge = tile.querySelector(".badge:not(.badge-public)");
    if (photo.status === "done") {
      if (badge) badge.remove();
      const img = tile.querySelector("img");
      if (img && photo.thumbnail_url) img.src = photo.thumbnail_url;
    } else if (badge) {
      badge.className = "badge badge-" + photo.status;
      badge.textContent = photo.status_label;
      badge.title = photo.error || "";
    }
  }

  function watch(id, element) {
    if (!watched.has(id)) watched.set(id, []);
    watched.get(id).push(element);
  }

  // A new upload's tile (rendered by the server with the grid's own template) goes first, as the
  // grid is newest first; only on a grid that shows every photo (the first page, no filter).
  const count = document.getElementById("photo-count");
  function addTile(html) {
    if (!grid || !grid.hasAttribute("data-live-insert") || !html) return null;
    const holder = document.createElement("template");
    holder.innerHTML = html.trim();
    const tile = holder.content.firstElementChild;
    grid.querySelectorAll(":scope > .empty").forEach((empty) => empty.remove());
    grid.prepend(tile);
    if (count) {
      const total = Number(count.dataset.count) + 1;
      count.dataset.count = total;
      count.textContent = total + (total === 1 ? " photo" : " photos");
    }
    return tile;
  }

  function startUploads(files) {
    const visibility = form.querySelector("select[name=visibility]").value;
    Array.from(files).forEach((file) => upload(file, visibility));
  }

  if (form && list) {
    const input = form.querySelector("input[type=file]");
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      if (!input.files.length) { input.click(); return; }
      startUploads(input.files);
      input.value = "";
    });
    // Picking files starts the upload at once; the button stays for keyboards and old habits.
    input.addEventListener("change", () => { if (input.files.length) { startUploads(input.files); input.value = ""; } });
    const zone = document.getElementById("dropzone");
    ["dragenter", "dragover"].forEach((name) => zone.addEventListener(name, (event) => {
      event.preventDefault();
      zone.classList.add("dragging");
    }));
    ["dragleave", "drop"].forEach((name) => zone.addEventListener(name, () => zone.classList.remove("dragging")));
    zone.addEventListener("drop", (event) => {
      event.preventDefault();
      if (event.dataTransfer.files.length) startUploads(event.dataTransfer.files);
    });
  }

  // Grid tiles still waiting for analysis update themselves too.
  if (grid) {
    grid.querySelectorAll(".tile[data-status=pending], .tile[data-status=running]").forEach((tile) => {
      watch(tile.dataset.photoId, tile);
    });
    if (watched.size) poll();
  }
})();
