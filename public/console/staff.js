// ClinicPay console: what every page's script shares, as window.ClinicPayConsole. Pages load it
// before their own script. It reads the page's data (#page-data), calls the API with the
// session and its CSRF token like any other client, and confirms with a passkey when an action
// needs a recent step-up.
(() => {
  'use strict';
  const dataElement = document.getElementById('page-data');
  const data = dataElement ? JSON.parse(dataElement.textContent || '{}') : {};
  const messages = data.messages || {};

  /** Fills `{name}` placeholders, as the server's messages do. */
  function fill(template, params = {}) {
    return String(template).replace(/\{(\w+)\}/g, (whole, name) => (params[name] === undefined ? whole : String(params[name])));
  }

  /**
   * A JSON request with the session; resolves to { status, body } (body: the parsed answer or
   * {}). Every POST carries an idempotency key: the one given (one per form), or a fresh one.
   */
  async function api(method, path, body, idempotencyKey) {
    const headers = { accept: 'application/json', 'x-csrf-token': data.csrf_token };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (method !== 'GET' && path.startsWith('/v1/')) headers['idempotency-key'] = idempotencyKey || crypto.randomUUID();
    const response = await fetch(path, { method, credentials: 'same-origin', headers, body: body === undefined ? undefined : JSON.stringify(body) });
    return { status: response.status, body: await response.json().catch(() => ({})) };
  }

  /** The problem's text for a person: its detail, else its title, else the status. */
  function problemText(answer) {
    return answer.body.detail || answer.body.title || String(answer.status);
  }

  /** Confirms with the person's passkey (a step-up, good for a few minutes); throws with why not. */
  async function stepUp() {
    const webauthn = window.SimpleWebAuthnBrowser;
    if (!webauthn?.browserSupportsWebAuthn()) throw new Error(messages.needs_script || 'passkeys are not available in this browser');
    const options = await api('POST', '/auth/step-up/options', {});
    if (options.status !== 200) throw new Error(problemText(options));
    const response = await webauthn.startAuthentication({ optionsJSON: options.body });
    const done = await api('POST', '/auth/step-up', { response });
    if (done.status !== 200) throw new Error(problemText(done));
  }

  /**
   * An action that may need a step-up: tried once; if the gateway answers step_up_required, the
   * person confirms with their passkey and it is tried again. The refusal changed nothing, so
   * the second try carries a key of its own (a key's first answer is the one it keeps).
   */
  async function withStepUp(method, path, body) {
    const first = await api(method, path, body);
    if (first.status !== 403 || first.body.code !== 'step_up_required') return first;
    await stepUp();
    return api(method, path, body);
  }

  window.ClinicPayConsole = { data, messages, fill, api, problemText, stepUp, withStepUp };
})();
