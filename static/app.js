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

// Confirmations name the object and the consequence; a regenerate form says what its grace means.
document.addEventListener("submit", (event) => {
  let message = event.target.dataset.confirm;
  if (!message) return;
  const grace = event.target.querySelector('input[name="grace"]');
  if (grace) {
    const days = Number(grace.value || 0);
    message = message.replace(/The (old|current) secret stops working.*$/, "");
    message += days > 0
      ? ` The old secret keeps working for ${days} day${days === 1 ? "" : "s"}, then stops.`
      : " The old secret stops working at once.";
  }
  if (!window.confirm(message.trim())) event.preventDefault();
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

// The expiry picker: the date a choice means, the custom field only when chosen, and a
// warning for a token that never expires. Without JS every part simply shows.
for (const picker of document.querySelectorAll("[data-expiry-picker]")) {
  const preview = picker.querySelector("[data-expiry-preview]");
  const custom = picker.querySelector('[data-show-when="custom"]');
  const never = picker.querySelector('[data-show-when="never"]');
  const days = picker.querySelector('input[name="custom_days"]');
  const update = () => {
    const chosen = picker.querySelector('input[name="expiry"]:checked')?.value;
    custom.hidden = chosen !== "custom" && custom.querySelector('[aria-invalid="true"]') === null;
    never.hidden = chosen !== "never";
    const count = chosen === "custom" ? Number(days.value.trim()) : Number(chosen);
    if (chosen === "never") {
      preview.textContent = "Never expires.";
    } else if (Number.isInteger(count) && count >= 1 && count <= 3650) {
      const on = new Date(Date.now() + count * 86400000);
      const shown = on.toLocaleDateString("en-GB", {
        weekday: "short", day: "numeric", month: "short", year: "numeric", timeZone: "UTC",
      });
      preview.textContent = `Expires on ${shown} (UTC), in ${count} day${count === 1 ? "" : "s"}.`;
    } else {
      preview.textContent = "";
    }
  };
  picker.addEventListener("change", update);
  picker.addEventListener("input", update);
  update();
}
