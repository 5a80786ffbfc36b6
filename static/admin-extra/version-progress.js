// Moves the model versions page's progress bars: polls the staff-only progress endpoint.
(function () {
  "use strict";
  // Destructive buttons (force activate, prune) ask first.
  document.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-confirm]");
    if (button && !window.confirm(button.dataset.confirm)) event.preventDefault();
  });
  const table = document.querySelector("table.versions[data-progress-url]");
  if (!table) return;
  const url = table.dataset.progressUrl;
  const POLL_MS = 2000;

  function render(data) {
    for (const version of data.versions) {
      const row = Array.from(table.querySelectorAll("tr[data-version]")).find((r) => r.dataset.version === version.name);
      if (!row) continue;
      const bar = row.querySelector("progress");
      if (bar) { bar.value = version.percent; bar.textContent = version.percent + "%"; }
      const fields = { status: version.status_label, percent: version.percent.toFixed(1) + "%", finished: version.done + version.failed, total: version.total,
        failed: version.failed, running: version.running, queued: version.queued, marked: version.marked,
        median_ms: version.median_ms === null ? "–" : version.median_ms + " ms" };
      for (const [name, value] of Object.entries(fields)) {
        const cell = row.querySelector('[data-field="' + name + '"]');
        if (cell) cell.textContent = value;
      }
    }
    const serving = document.querySelector(".serving-version");
    if (serving) serving.textContent = data.serving;
  }

  async function poll() {
    try {
      const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (response.ok) render(await response.json());
    } catch (error) {
      // A missed poll (server restarting) is retried on the next tick.
    }
    window.setTimeout(poll, POLL_MS);
  }
  window.setTimeout(poll, POLL_MS);
})();
