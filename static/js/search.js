// Search by photo: drop or paste a photo and the search starts at once.
(function () {
  "use strict";
  const form = document.getElementById("search-form");
  if (!form) return;
  const input = form.querySelector("input[type=file]");
  const zone = document.getElementById("search-dropzone");
  const useFiles = (files) => {
    if (!files || !files.length) return;
    const transfer = new DataTransfer();
    transfer.items.add(files[0]);
    input.files = transfer.files;
    form.requestSubmit();
  };
  input.addEventListener("change", () => { if (input.files.length) form.requestSubmit(); });
  ["dragenter", "dragover"].forEach((name) => zone.addEventListener(name, (event) => {
    event.preventDefault();
    zone.classList.add("dragging");
  }));
  ["dragleave", "drop"].forEach((name) => zone.addEventListener(name, () => zone.classList.remove("dragging")));
  zone.addEventListener("drop", (event) => { event.preventDefault(); useFiles(event.dataTransfer.files); });
  document.addEventListener("paste", (event) => {
    const files = Array.from(event.clipboardData ? event.clipboardData.files : []).filter((f) => f.type.startsWith("image/"));
    if (files.length) { event.preventDefault(); useFiles(files); }
  });
})();
