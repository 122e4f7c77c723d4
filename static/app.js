// Progressive enhancement only: every page works without it.
"use strict";

document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  const source = document.getElementById(button.dataset.copy);
  const text = source.value ?? source.textContent;
  try {
    await navigator.clipboard.writeText(text.trim());
  } catch {
    source.select?.();
    document.execCommand("copy");
  }
  const label = button.innerHTML; // keeps the visually hidden name of what it copies
  button.textContent = "Copied";
  button.setAttribute("aria-live", "polite");
  setTimeout(() => { button.innerHTML = label; }, 1500);
});

document.addEventListener("submit", (event) => {
  const message = event.target.dataset.confirm;
  if (message && !window.confirm(message)) event.preventDefault();
});

// A form that reveals a secret (it carries a one-use nonce) is sent once per page view:
// a double click would otherwise race two requests past the server's check.
document.addEventListener("submit", (event) => {
  if (!event.target.dataset.sent) return;
  event.preventDefault();
  event.stopPropagation(); // no second confirm dialog either
}, true);
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (!event.defaultPrevented && form.querySelector('input[name="once"]')) form.dataset.sent = "yes";
});
window.addEventListener("pageshow", () => {
  for (const form of document.querySelectorAll("form[data-sent]")) delete form.dataset.sent;
});

// A banner the user dismissed stays away for this browser session, until what it warns of changes.
for (const banner of document.querySelectorAll("[data-dismiss-key]")) {
  const key = "dismissed:" + banner.dataset.dismissKey;
  if (sessionStorage.getItem(key)) { banner.hidden = true; continue; }
  const button = banner.querySelector("[data-dismiss]");
  if (!button) continue;
  button.hidden = false;
  button.addEventListener("click", () => {
    sessionStorage.setItem(key, "1");
    banner.hidden = true;
  });
}

// A form that came back with errors: the eye goes to the first invalid field (the summary
// above the form says what is wrong), not to the top of a long page.
{
  const invalid = document.querySelector('[aria-invalid="true"]');
  if (invalid) {
    invalid.focus({ preventScroll: true });
    (invalid.closest("form") ?? invalid).scrollIntoView({ block: "start" });
  }
}
