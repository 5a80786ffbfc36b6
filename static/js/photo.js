// Photo page: the saliency overlay toggle, and a reload once a pending analysis finishes.
(function () {
  const toggle = document.getElementById("overlay-toggle");
  const overlay = document.querySelector(".photo .overlay");
  if (toggle && overlay) {
    toggle.addEventListener("change", () => { overlay.hidden = !toggle.checked; });
  }
  const article = document.querySelector(".photo");
  if (!article || !["pending", "running"].includes(article.dataset.status)) return;
  const poll = async () => {
    try {
      const response = await fetch(article.dataset.statusUrl, { credentials: "same-origin" });
      const body = await response.json();
      if (body.status === "done" || body.status === "failed") { window.location.reload(); return; }
      document.getElementById("analysis-status").textContent = body.status;
    } catch (err) { /* a network blip: try again on the next tick */ }
    setTimeout(poll, 1000);
  };
  setTimeout(poll, 1000);
})();
