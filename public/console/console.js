// ClinicPay console: passkeys (add one, confirm with one) over the gateway's /auth endpoints.
// The page works without this script; only passkeys need it.
(() => {
  'use strict';
  const dataElement = document.getElementById('page-data');
  if (!dataElement) return;
  const data = JSON.parse(dataElement.textContent || '{}');
  const status = document.getElementById('passkey-status');
  const addButton = document.getElementById('add-passkey');
  const confirmButton = document.getElementById('confirm-passkey');
  const webauthn = window.SimpleWebAuthnBrowser;
  if (!status || !addButton || !confirmButton || !webauthn?.browserSupportsWebAuthn()) return;

  const say = (text, state) => {
    status.textContent = text;
    status.dataset.state = state;
  };
  const failed = (reason) => say(data.messages.passkey_failed.replace('{reason}', reason), 'failed');

  /** POSTs JSON with the session's CSRF token; returns the parsed answer or throws its problem's detail. */
  async function post(path, body) {
    const response = await fetch(path, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'content-type': 'application/json', 'x-csrf-token': data.csrf_token },
      body: JSON.stringify(body),
    });
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(answer.detail || answer.title || String(response.status));
    return answer;
  }

  addButton.hidden = false;
  confirmButton.hidden = false;

  addButton.addEventListener('click', async () => {
    addButton.disabled = true;
    try {
      const options = await post('/auth/passkeys/options', {});
      const response = await webauthn.startRegistration({ optionsJSON: options });
      await post('/auth/passkeys', { response });
      say(data.messages.passkey_added, 'added');
      window.location.reload();
    } catch (error) {
      failed(error instanceof Error ? error.message : String(error));
    } finally {
      addButton.disabled = false;
    }
  });

  confirmButton.addEventListener('click', async () => {
    confirmButton.disabled = true;
    try {
      const options = await post('/auth/step-up/options', {});
      const response = await webauthn.startAuthentication({ optionsJSON: options });
      await post('/auth/step-up', { response });
      say(data.messages.confirmed, 'confirmed');
    } catch (error) {
      failed(error instanceof Error ? error.message : String(error));
    } finally {
      confirmButton.disabled = false;
    }
  });
})();
