// Passkeys: a form with data-passkey-create or data-passkey-get asks the browser's
// WebAuthn for a credential, puts its JSON into the form's "credential" field and submits.
"use strict";

// The forms are hidden until this script runs: without WebAuthn they could only fail.
if (window.PublicKeyCredential) {
  for (const form of document.querySelectorAll("form[data-passkey-create], form[data-passkey-get]")) {
    form.hidden = false;
  }
}

document.addEventListener("submit", async (event) => {
  const form = event.target;
  const create = form.dataset.passkeyCreate;
  const get = form.dataset.passkeyGet;
  if (!create && !get) return;
  event.preventDefault();
  const status = form.querySelector(".passkey-status");
  try {
    const credential = create
      ? await navigator.credentials.create({
        publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(JSON.parse(create)),
      })
      : await navigator.credentials.get({
        publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(JSON.parse(get)),
      });
    form.querySelector('input[name="credential"]').value = JSON.stringify(credential.toJSON());
    form.submit();
  } catch (err) {
    if (status) status.textContent = `No passkey was used (${err.name}).`;
  }
});
