// Affiant's few behaviours in the browser. They live here, not in the pages, because the Content
// Security Policy forbids inline script and event-handler attributes.
"use strict";

// A form marked data-confirm="question" asks before it is sent (removing a document, for one).
document.addEventListener("submit", function (event) {
  const form = event.target;
  if (form instanceof HTMLFormElement && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
    event.preventDefault();
  }
});

// An element that is not a button but says role="button" (a draft's sentences) is pressed with Enter or
// Space from the keyboard, as a button is; htmx then sees the click.
document.addEventListener("keydown", function (event) {
  const target = event.target;
  if (!(target instanceof HTMLElement) || !target.matches('[role="button"]:not(button)')) {
    return;
  }
  if (event.key === "Enter" || event.key === " ") {
    event.preventDefault();
    target.click();
  }
});
