// ClinicPay console, front desk: the new-bill form and one bill's page. Bills are created and
// voided through the API (/v1) with the session's CSRF token, like any other client.
(() => {
  'use strict';
  const dataElement = document.getElementById('page-data');
  if (!dataElement) return;
  const data = JSON.parse(dataElement.textContent || '{}');
  const messages = data.messages || {};
  const lang = document.documentElement.lang;
  // As the server formats money: English in Hong Kong's convention (HK$, US$).
  const locale = lang === 'en' ? 'en-HK' : lang;

  function fill(template, params) {
    return String(template).replace(/\{(\w+)\}/g, (whole, name) => (params[name] === undefined ? whole : String(params[name])));
  }

  /** A JSON request to the API with the session; resolves to { status, body }. */
  async function api(method, path, body, idempotencyKey) {
    const response = await fetch(path, {
      method,
      credentials: 'same-origin',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json',
        'x-csrf-token': data.csrf_token,
        'idempotency-key': idempotencyKey || crypto.randomUUID(),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: response.status, body: await response.json().catch(() => ({})) };
  }

  // ---- The new-bill form. ----
  const form = document.getElementById('bill-form');
  if (form) {
    const lines = document.getElementById('lines');
    const template = document.getElementById('line-template');
    const total = document.getElementById('total');
    const button = document.getElementById('create-bill');
    const formError = document.getElementById('form-error');
    const indicative = document.getElementById('indicative');

    /** "12.3" → 1230n cents, or null when it is not an amount. */
    function cents(text) {
      const match = /^(\d{1,9})(?:\.(\d{1,2}))?$/.exec(text.trim());
      if (!match) return null;
      return BigInt(match[1]) * 100n + BigInt((match[2] || '').padEnd(2, '0'));
    }
    function decimalText(value) {
      const whole = value / 100n;
      const fraction = (value % 100n).toString().padStart(2, '0');
      return `${whole}.${fraction}`;
    }
    function updateTotal() {
      let sum = 0n;
      for (const line of lines.querySelectorAll('.line')) {
        const quantity = Number(line.querySelector('[name="quantity"]').value);
        const unit = cents(line.querySelector('[name="unit_amount"]').value);
        if (Number.isInteger(quantity) && quantity > 0 && unit !== null) sum += unit * BigInt(quantity);
      }
      total.textContent = new Intl.NumberFormat(locale, { style: 'currency', currency: 'HKD' }).format(decimalText(sum));
      if (indicative && data.rates) indicative.textContent = indicativeText(sum);
    }
    /** HKD cents × a rate given as decimal text → cents of the other currency, half up (exact, in BigInt). */
    function convert(centsHkd, rate) {
      const [whole, fraction = ''] = rate.split('.');
      const scale = 10n ** BigInt(fraction.length);
      const product = centsHkd * BigInt(whole + fraction);
      return (product * 2n + scale) / (2n * scale);
    }
    function indicativeText(centsHkd) {
      const amounts = Object.keys(data.rates.rates)
        .sort()
        .map((currency) => new Intl.NumberFormat(locale, { style: 'currency', currency }).format(decimalText(convert(centsHkd, data.rates.rates[currency]))))
        .join(' · ');
      return fill(messages.indicative, { amounts, source: data.rates.source, time: data.rates.as_of });
    }
    function showError(param, detail) {
      const field = param?.startsWith('line_items') ? 'line_items' : param?.startsWith('metadata') ? 'note' : param;
      const target = (field && document.getElementById(`${field}-error`)) || formError;
      target.textContent = fill(messages.field_error, { detail });
      target.hidden = false;
      const input = field && document.getElementById(field);
      if (input) input.setAttribute('aria-invalid', 'true');
    }
    function clearErrors() {
      for (const element of form.querySelectorAll('.field-error, .form-error')) {
        element.hidden = true;
        element.textContent = '';
      }
      for (const element of form.querySelectorAll('[aria-invalid]')) element.removeAttribute('aria-invalid');
    }

    document.getElementById('add-line').addEventListener('click', () => {
      lines.append(template.content.cloneNode(true));
      lines.lastElementChild.querySelector('input').focus();
    });
    lines.addEventListener('click', (event) => {
      const remove = event.target.closest('.remove-line');
      if (remove && lines.querySelectorAll('.line').length > 1) {
        remove.closest('.line').remove();
        updateTotal();
      }
    });
    lines.addEventListener('input', updateTotal);
    // An item of the price list fills the line's description and price (both stay editable).
    lines.addEventListener('change', (event) => {
      const picker = event.target.closest('select[name="price_item"]');
      if (!picker) return;
      const chosen = picker.selectedOptions[0];
      const line = picker.closest('.line');
      if (chosen?.value) {
        line.querySelector('[name="description"]').value = chosen.dataset.name;
        line.querySelector('[name="unit_amount"]').value = chosen.dataset.amount;
      }
      updateTotal();
    });

    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      clearErrors();
      button.disabled = true;
      const label = button.textContent;
      button.textContent = messages.creating;
      try {
        const body = {
          patient_ref: document.getElementById('patient_ref').value.trim(),
          currency: 'HKD',
          line_items: [...lines.querySelectorAll('.line')].map((line) => ({
            description: line.querySelector('[name="description"]').value.trim(),
            quantity: Number(line.querySelector('[name="quantity"]').value),
            unit_amount: line.querySelector('[name="unit_amount"]').value.trim(),
          })),
        };
        const note = document.getElementById('note').value.trim();
        if (note) body.metadata = { note };
        // One key per form: a second click replays the first answer, so there is one bill.
        const answer = await api('POST', '/v1/invoices', body, form.dataset.idempotencyKey);
        if (answer.status === 201 || (answer.status === 200 && answer.body.id)) {
          if (answer.body.checkout_url) sessionStorage.setItem(`checkout:${answer.body.id}`, answer.body.checkout_url);
          window.location.assign(`/console/bills/${answer.body.id}/counter?lang=${lang}`);
          return;
        }
        // Refused, so nothing was made: the corrected form goes with a key of its own (a key
        // keeps its first answer, and a different body under it is refused).
        form.dataset.idempotencyKey = crypto.randomUUID();
        showError(answer.body.param, answer.body.detail || answer.body.title || String(answer.status));
      } catch (error) {
        showError(undefined, error instanceof Error ? error.message : String(error));
      }
      button.disabled = false;
      button.textContent = label;
    });
    updateTotal();
  }

  // ---- One bill: a new checkout link, to copy, e-mail or show at the counter. ----
  const newLink = document.getElementById('new-link');
  if (newLink && data.bill_id) {
    newLink.addEventListener('click', async () => {
      newLink.disabled = true;
      const answer = await api('POST', `/v1/invoices/${data.bill_id}/checkout-link`);
      newLink.disabled = false;
      if (answer.status !== 201 || !answer.body.checkout_url) {
        document.getElementById('bill-message').textContent = answer.body.detail || String(answer.status);
        return;
      }
      const link = answer.body.checkout_url;
      // The counter screen of this tab draws it as a QR too.
      sessionStorage.setItem(`checkout:${data.bill_id}`, link);
      document.getElementById('checkout-link').value = link;
      document.getElementById('email-link').href = `mailto:?subject=${encodeURIComponent(document.title)}&body=${encodeURIComponent(link)}`;
      // A paid bill's link is the patient's receipt; its PDF prints at the desk.
      const receipt = document.getElementById('receipt-pdf');
      if (receipt) receipt.href = `${link}/receipt.pdf`;
      document.getElementById('link-box').hidden = false;
    });
    document.getElementById('copy-link').addEventListener('click', async () => {
      const field = document.getElementById('checkout-link');
      await navigator.clipboard.writeText(field.value).catch(() => field.select());
      document.getElementById('bill-message').textContent = messages.copied;
    });
  }

  // ---- One bill: void it. ----
  const voidButton = document.getElementById('void-bill');
  if (voidButton && data.bill_id) {
    voidButton.addEventListener('click', async () => {
      voidButton.disabled = true;
      const answer = await api('POST', `/v1/invoices/${data.bill_id}/void`);
      const message = document.getElementById('bill-message');
      if (answer.status === 200) {
        message.textContent = messages.voided;
        window.location.reload();
      } else {
        // A stale page: the bill changed since it was shown (paid, expired, voided elsewhere).
        message.textContent = answer.status === 409 ? messages.stale_bill : answer.body.detail || String(answer.status);
        voidButton.disabled = false;
      }
    });
  }
})();
