// ClinicPay console, platform administrator: adding clinics, revoking tokens, and one clinic's
// settlement address changes, webhooks, API keys and people. Every change is the API's own
// endpoint (/v1), called with the session like any other client (ClinicPayConsole, staff.js);
// actions the API guards with a passkey confirmation ask for it and try again.
(() => {
  'use strict';
  const ui = window.ClinicPayConsole;
  if (!ui) return;
  const { data, messages, fill, api, withStepUp } = ui;
  const lang = data.lang || document.documentElement.lang;
  const FLASH = 'clinicpay-admin-message';

  // What the last action did, said after the reload that shows it.
  const status = document.getElementById('admin-message');
  const said = sessionStorage.getItem(FLASH);
  if (said && status) {
    status.textContent = said;
    sessionStorage.removeItem(FLASH);
  }
  function reloadSaying(text) {
    sessionStorage.setItem(FLASH, text);
    window.location.reload();
  }

  /** The API's field (`param`) → the form field that shows its error, and the words for it. */
  const FIELD_OF = { jti: 'value', sub: 'value' };
  const FIELD_MESSAGE = {
    name: 'bad_name',
    settlement_address: 'bad_settlement_address',
    address: 'bad_address',
    webhook_url: 'bad_webhook_url',
    reason: 'bad_reason',
    email: 'bad_email',
    role: 'bad_role',
    clinic_id: 'bad_clinic',
    value: 'bad_value',
  };

  /** The answer's problem in the page's language. */
  function problemMessage(answer) {
    const code = answer.body.code;
    if (code === 'step_up_required') return fill(messages.err_step_up, { detail: ui.problemText(answer) });
    if (code === 'settlement_address_change_pending') return messages.err_pending;
    if (code === 'settlement_address_change_not_pending') return messages.err_not_pending;
    if (answer.status === 403) return messages.err_forbidden;
    return fill(messages.err_other, { detail: ui.problemText(answer) });
  }

  function clearErrors(container) {
    for (const element of container.querySelectorAll('[data-error-for]')) {
      element.hidden = true;
      element.textContent = '';
    }
    for (const element of container.querySelectorAll('[aria-invalid]')) element.removeAttribute('aria-invalid');
  }

  function showError(container, text) {
    const target = container.querySelector('[data-error-for=""]');
    target.textContent = text;
    target.hidden = false;
  }

  /** A refusal next to its field when it names one of the form's, else on the form's own line. */
  function showAnswer(container, answer) {
    const param = typeof answer.body.param === 'string' ? answer.body.param.split(/[.[]/)[0] : '';
    const name = FIELD_OF[param] || param;
    const target = answer.status === 400 && name ? container.querySelector(`[data-error-for="${CSS.escape(name)}"]`) : null;
    if (!target) return showError(container, problemMessage(answer));
    target.textContent = messages[FIELD_MESSAGE[name]] || messages.bad_field;
    target.hidden = false;
    const input = container.querySelector(`[name="${CSS.escape(name)}"]`);
    if (input) {
      input.setAttribute('aria-invalid', 'true');
      input.focus();
    }
  }

  const ok = (answer) => answer.status >= 200 && answer.status < 300;
  const value = (form, name) => form.elements[name].value.trim();

  /** Why an action that asked for a passkey (or the network) failed. */
  function thrown(error, stepUp) {
    const detail = error instanceof Error ? error.message : String(error);
    return stepUp ? fill(messages.err_step_up, { detail }) : fill(messages.err_other, { detail });
  }

  /** A form whose submit sends `send(form)`; `done(answer)` on success, errors shown in the form. */
  function onSubmit(id, send, done, stepUp = false) {
    const form = document.getElementById(id);
    if (!form) return;
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      clearErrors(form);
      const button = form.querySelector('button[type="submit"]');
      const label = button.textContent;
      button.disabled = true;
      button.textContent = messages.working;
      try {
        const answer = await send(form);
        if (ok(answer)) done(answer, form);
        else showAnswer(form, answer);
      } catch (error) {
        showError(form, thrown(error, stepUp));
      } finally {
        button.disabled = false;
        button.textContent = label;
      }
    });
  }

  // ---- The clinics page. ----
  onSubmit(
    'clinic-form',
    async (form) => {
      const body = { name: value(form, 'name'), settlement_address: value(form, 'settlement_address') };
      if (value(form, 'webhook_url') !== '') body.webhook_url = value(form, 'webhook_url');
      // One key per form: a second press replays the first answer, so there is one clinic. A
      // refusal added nothing, and its key keeps the refusal: the corrected form takes a new one.
      const answer = await api('POST', '/v1/clinics', body, form.dataset.idempotencyKey);
      if (!ok(answer)) form.dataset.idempotencyKey = crypto.randomUUID();
      return answer;
    },
    (answer, form) => {
      form.hidden = true;
      document.getElementById('clinic-created-text').textContent = fill(messages.clinic_created, { name: answer.body.name });
      document.getElementById('clinic-secret').value = answer.body.webhook_secret || '';
      document.getElementById('open-new-clinic').href = `/console/clinics/${encodeURIComponent(answer.body.id)}?lang=${lang}`;
      document.getElementById('clinic-created').hidden = false;
      document.getElementById('clinic-secret').focus();
    },
  );

  onSubmit(
    'revocation-form',
    (form) => api('POST', '/v1/token-revocations', { [form.elements.kind.value]: value(form, 'value'), reason: value(form, 'reason') }),
    () => reloadSaying(messages.tokens_revoked),
  );

  // ---- One clinic's page. ----
  const clinicId = data.clinic_id;
  if (!clinicId) return;
  const clinicPath = `/v1/clinics/${encodeURIComponent(clinicId)}`;

  onSubmit(
    'propose-form',
    (form) => api('POST', `${clinicPath}/settlement-address-changes`, { address: value(form, 'address'), reason: value(form, 'reason') }),
    () => reloadSaying(messages.proposed_done),
  );

  onSubmit(
    'webhook-form',
    (form) => api('PATCH', clinicPath, { webhook_url: value(form, 'webhook_url') === '' ? null : value(form, 'webhook_url') }),
    () => reloadSaying(messages.webhook_saved),
  );

  onSubmit(
    'api-key-form',
    (form) => withStepUp('POST', '/v1/api-keys', { name: value(form, 'name'), role: form.elements.role.value, clinic_id: clinicId }),
    (answer, form) => {
      form.hidden = true;
      document.getElementById('new-api-key').value = answer.body.secret || '';
      document.getElementById('api-key-box').hidden = false;
      document.getElementById('new-api-key').focus();
    },
    true,
  );

  onSubmit(
    'membership-form',
    (form) => api('POST', '/v1/memberships', { email: value(form, 'email'), role: form.elements.role.value, clinic_id: clinicId }),
    () => reloadSaying(messages.invitation_sent),
  );

  /** The page's buttons: each is one API call; `stepUp` ones ask for the passkey when needed. */
  const ACTIONS = {
    approve: { stepUp: true, call: (id) => withStepUp('POST', `/v1/settlement-address-changes/${id}/approve`), said: 'approved_done' },
    cancel: { call: (id) => api('POST', `/v1/settlement-address-changes/${id}/cancel`), said: 'cancelled_done' },
    redeliver: { call: (id) => api('POST', `/v1/webhooks/events/${id}/redeliver`), said: 'redelivered' },
    'revoke-key': { stepUp: true, call: (id) => withStepUp('DELETE', `/v1/api-keys/${id}`), said: 'key_revoked' },
    'revoke-membership': { call: (id) => api('DELETE', `/v1/memberships/${id}`), said: 'membership_revoked' },
  };

  document.querySelector('main').addEventListener('click', async (event) => {
    const button = event.target.closest('button[data-action]');
    if (!button) return;
    if (button.dataset.action === 'done') {
      // The secret shown once goes from the page before it reloads.
      for (const input of document.querySelectorAll('#new-secret, #new-api-key')) input.value = '';
      window.location.reload();
      return;
    }
    const action = ACTIONS[button.dataset.action];
    if (!action) return;
    const section = button.closest('section');
    clearErrors(section);
    button.disabled = true;
    try {
      const answer = await action.call(encodeURIComponent(button.dataset.id));
      if (ok(answer)) return reloadSaying(messages[action.said]);
      showAnswer(section, answer);
    } catch (error) {
      showError(section, thrown(error, action.stepUp));
    }
    button.disabled = false;
  });

  const rotate = document.getElementById('rotate-secret');
  if (rotate) {
    rotate.addEventListener('click', async () => {
      const section = rotate.closest('section');
      clearErrors(section);
      rotate.disabled = true;
      try {
        const answer = await withStepUp('POST', `${clinicPath}/webhook-secret`, {});
        if (ok(answer)) {
          document.getElementById('new-secret').value = answer.body.webhook_secret || '';
          document.getElementById('secret-box').hidden = false;
          document.getElementById('new-secret').focus();
        } else showAnswer(section, answer);
      } catch (error) {
        showError(section, thrown(error, true));
      }
      rotate.disabled = false;
    });
  }
})();
