// skilldex web catalog: enhancements only. Every page works without this file.
"use strict";

// Copy buttons next to install snippets.
document.querySelectorAll("[data-copy]").forEach((button) => {
  button.hidden = false;
  button.addEventListener("click", async () => {
    const source = document.getElementById(button.dataset.copy);
    if (!source) return;
    try {
      await navigator.clipboard.writeText(source.textContent.trim());
      button.textContent = "Copied";
    } catch {
      const range = document.createRange();
      range.selectNodeContents(source);
      const selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      button.textContent = "Press Ctrl+C";
    }
    setTimeout(() => { button.textContent = "Copy"; }, 2000);
  });
});

// Search as you type: suggestions from the same search the results page uses.
const box = document.querySelector("input[data-suggest]");
const list = document.getElementById("suggestions");
if (box && list) {
  let timer = null;
  let last = "";
  box.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const q = box.value.trim();
      if (q === last) return;
      last = q;
      if (q.length < 2) { list.replaceChildren(); return; }
      try {
        const response = await fetch("/search/suggest?q=" + encodeURIComponent(q), {
          headers: { Accept: "application/json" },
        });
        if (!response.ok) return;
        const names = await response.json();
        list.replaceChildren(...names.map((name) => {
          const option = document.createElement("option");
          option.value = name;
          return option;
        }));
      } catch {
        // Suggestions are a nicety; the form still submits.
      }
    }, 150);
  });
}
