// The run page's live progress: asks the console (same origin) for the run's progress every
// few seconds and writes it into the page, until the run has finished; then reloads the page
// once, to show what the run did. No text of its own: the labels come translated.
"use strict";

(function () {
  const box = document.querySelector("[data-progress-url]");
  if (!box) {
    return;
  }
  const url = box.getAttribute("data-progress-url");
  const bar = box.querySelector("progress");
  const EVERY_MS = 3000;

  function show(state) {
    bar.value = state.progress;
    bar.textContent = state.percent_label;
    for (const field of box.querySelectorAll("[data-field]")) {
      const name = field.getAttribute("data-field");
      if (name in state) {
        field.textContent = state[name];
      }
    }
  }

  async function poll() {
    let response;
    try {
      response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    } catch (e) {
      window.setTimeout(poll, EVERY_MS);  // the network went away for a moment
      return;
    }
    if (!response.ok) {
      return;  // signed out, or the run is no longer ours to see: stop asking
    }
    const state = await response.json();
    show(state);
    if (state.finished) {
      window.location.reload();
    } else {
      window.setTimeout(poll, EVERY_MS);
    }
  }

  window.setTimeout(poll, EVERY_MS);
})();
