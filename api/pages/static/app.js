// Driveguard pages: small progressive enhancements only; every page reads and works without this file.
"use strict";

document.addEventListener("submit", (event) => {
  // Forms that do something hard to undo ask first (data-confirm holds the question).
  const form = event.target;
  const question = form instanceof HTMLFormElement ? form.dataset.confirm : undefined;
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});
