// ClinicPay console, finance: propose a resolution, approve one with a passkey, send an approved
// refund from the clinic's own wallet (EIP-1193), and start a reconciliation run and follow it.
// Every change is an API call (/v1) with the session, as any other client makes it.
(() => {
  'use strict';
  const cp = window.ClinicPayConsole;
  if (!cp) return;
  const { data, messages, fill, api, problemText, withStepUp } = cp;

  /**
   * Text for a failed answer, in the page's language where the problem's code has words here
   * (the API's own detail, in English, otherwise). A conflict means the page is stale.
   */
  function failure(answer) {
    const known = messages[`pb_${answer.body.code}`];
    if (known) return known;
    if (answer.status === 409) return fill(messages.stale, { detail: problemText(answer) });
    return fill(messages.failed, { detail: problemText(answer) });
  }

  /** "12.5" in a token of `decimals` → base units as a decimal string, or null when it is not an amount. */
  function baseUnits(text, decimals) {
    const match = /^(\d{1,30})(?:\.(\d+))?$/.exec(String(text).trim());
    if (!match || (match[2] || '').length > decimals) return null;
    const units = BigInt(match[1]) * 10n ** BigInt(decimals) + BigInt((match[2] || '').padEnd(decimals, '0') || '0');
    return units > 0n ? units.toString() : null;
  }

  /** Waits until `check` resolves truthy, asking every `everyMs`; gives up after `deadlineMs`. */
  async function until(check, everyMs, deadlineMs) {
    const end = Date.now() + deadlineMs;
    while (Date.now() < end) {
      const value = await check();
      if (value) return value;
      await new Promise((resolve) => setTimeout(resolve, everyMs));
    }
    return undefined;
  }

  // ---- One exception: propose. ----
  const form = document.getElementById('propose-form');
  if (form) {
    const formError = document.getElementById('form-error');
    const status = document.getElementById('propose-status');
    const button = document.getElementById('propose-button');
    const fields = ['amount', 'to_address', 'signature', 'target_invoice_id', 'reason'];
    const needs = {
      refund: ['amount'],
      refund_other: ['amount', 'to_address', 'signature'],
      apply_to_invoice: ['amount', 'target_invoice_id'],
      write_off: ['amount', 'reason'],
      release: ['reason'],
      keep_held: ['reason'],
    };
    const chosen = () => form.querySelector('input[name="action"]:checked')?.value || 'refund';
    function showFields() {
      for (const name of fields) {
        const field = form.querySelector(`[data-field="${name}"]`);
        if (field) field.hidden = !needs[chosen()].includes(name);
      }
    }
    function clearErrors() {
      formError.hidden = true;
      for (const name of fields) {
        const error = document.getElementById(`${name}-error`);
        error.hidden = true;
        document.getElementById(name).removeAttribute('aria-invalid');
      }
    }
    function fieldError(name, text) {
      const error = document.getElementById(`${name}-error`);
      if (!error) {
        formError.textContent = text;
        formError.hidden = false;
        return;
      }
      error.textContent = text;
      error.hidden = false;
      document.getElementById(name).setAttribute('aria-invalid', 'true');
    }
    form.addEventListener('change', showFields);
    showFields();
    // One key per form: pressing twice proposes once. A refused proposal changed nothing, so the
    // corrected one goes with a new key (a key keeps its first answer).
    let key = crypto.randomUUID();
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      clearErrors();
      const action = chosen();
      const value = (name) => document.getElementById(name).value.trim();
      const decision = action === 'release' || action === 'keep_held';
      const amount = decision ? null : baseUnits(value('amount'), data.wallet.decimals);
      if (!decision && amount === null)
        return fieldError('amount', fill(messages.amount_invalid, { symbol: data.wallet.symbol, decimals: data.wallet.decimals }));
      const body = decision ? { action } : { action: action === 'refund_other' ? 'refund' : action, amount };
      if (decision) body.reason = value('reason');
      if (action === 'refund_other') Object.assign(body, { to_address: value('to_address'), signature: value('signature') });
      if (action === 'apply_to_invoice') body.target_invoice_id = value('target_invoice_id');
      if (action === 'write_off') body.reason = value('reason');
      button.disabled = true;
      status.textContent = messages.proposing;
      const answer = await api('POST', `/v1/exceptions/${encodeURIComponent(data.exception_id)}/resolutions`, body, key);
      button.disabled = false;
      if (answer.status === 201) {
        status.textContent = messages.proposed;
        window.location.reload();
        return;
      }
      key = crypto.randomUUID();
      status.textContent = '';
      const param = answer.body.errors?.[0]?.param || answer.body.param;
      if (param && fields.includes(param)) fieldError(param, failure(answer));
      else fieldError('form', failure(answer));
    });
  }

  // ---- One exception: approve (a passkey confirms it). ----
  for (const button of document.querySelectorAll('button.approve')) {
    button.hidden = false;
    button.addEventListener('click', async () => {
      const line = button.closest('.resolution').querySelector('.status-line');
      button.disabled = true;
      line.textContent = messages.approving;
      try {
        const answer = await withStepUp('POST', `/v1/resolutions/${encodeURIComponent(button.dataset.resolution)}/approve`);
        if (answer.status !== 200) throw new Error(failure(answer));
        line.textContent = messages.approved;
        window.location.reload();
      } catch (error) {
        line.textContent = error instanceof Error ? error.message : String(error);
        line.dataset.state = 'failed';
        button.disabled = false;
      }
    });
  }

  // ---- One exception: the clinic's wallet sends the approved refund. ----
  for (const button of document.querySelectorAll('button.send-refund')) {
    const line = button.closest('.resolution').querySelector('.status-line');
    const wallet = data.wallet;
    const ethereum = window.ethereum;
    if (!ethereum || typeof ethereum.request !== 'function') {
      line.textContent = messages.wallet_missing;
      continue;
    }
    button.hidden = false;
    button.addEventListener('click', async () => {
      button.disabled = true;
      line.dataset.state = '';
      try {
        const chain = Number.parseInt(await ethereum.request({ method: 'eth_chainId' }), 16);
        if (chain !== wallet.chain_id) throw new Error(fill(messages.wallet_wrong_chain, { chain, expected: wallet.chain_id }));
        const accounts = await ethereum.request({ method: 'eth_requestAccounts' });
        const from = (accounts || []).find((account) => String(account).toLowerCase() === String(wallet.settlement_address).toLowerCase());
        if (!from) throw new Error(fill(messages.wallet_wrong_account, { address: wallet.settlement_address }));
        // Exactly the transfer the gateway prepared: its call data, to the token, from the clinic's wallet.
        const tx = await ethereum.request({ method: 'eth_sendTransaction', params: [{ from, to: wallet.token, data: button.dataset.calldata, value: '0x0' }] });
        line.textContent = fill(messages.refund_sent, { tx });
        line.dataset.state = 'sent';
        const done = await until(
          async () => {
            const answer = await api('GET', `/v1/resolutions/${encodeURIComponent(button.dataset.resolution)}`);
            return answer.status === 200 && answer.body.status === 'completed';
          },
          2000,
          60 * 60 * 1000,
        );
        if (done) {
          line.textContent = messages.refund_done;
          line.dataset.state = 'done';
          button.hidden = true;
        }
      } catch (error) {
        line.textContent = fill(messages.wallet_failed, { reason: error instanceof Error ? error.message : String(error) });
        line.dataset.state = 'failed';
        button.disabled = false;
      }
    });
  }

  // ---- Reconciliation: start a run, follow its progress. ----
  const start = document.getElementById('start-run');
  if (start) {
    const progress = document.getElementById('run-progress');
    const bar = document.getElementById('run-bar');
    const percent = document.getElementById('run-percent');
    const status = document.getElementById('run-status');
    const downloads = document.getElementById('run-downloads');
    const result = (run) =>
      fill(messages.run_result, {
        matched: run.counts.matched ?? 0,
        transfers: run.counts.transfers_on_chain ?? 0,
        exceptions: run.counts.exceptions ?? 0,
        new: run.counts.new_exceptions ?? 0,
        mismatches: run.counts.balance_mismatches ?? 0,
        balances: run.counts.balances_checked ?? 0,
      });
    async function follow(id) {
      start.disabled = true;
      progress.hidden = false;
      status.dataset.state = 'running';
      const run = await until(
        async () => {
          const answer = await api('GET', `/v1/reconciliations/${encodeURIComponent(id)}`);
          if (answer.status !== 200) return undefined;
          bar.value = answer.body.progress_percent;
          percent.textContent = `${answer.body.progress_percent}%`;
          status.textContent = fill(messages.run_running, { percent: answer.body.progress_percent });
          return answer.body.status === 'running' ? undefined : answer.body;
        },
        500,
        6 * 60 * 60 * 1000,
      );
      start.disabled = false;
      if (!run) return;
      status.dataset.state = run.status;
      if (run.status === 'completed') {
        bar.value = 100;
        percent.textContent = '100%';
        status.textContent = `${messages.run_completed}: ${result(run)}`;
        document.getElementById('run-csv').href = `/v1/reconciliations/${encodeURIComponent(run.id)}/export`;
        downloads.hidden = false;
      } else {
        status.textContent = fill(messages.run_failed, { error: run.error || '' });
      }
    }
    start.hidden = false;
    start.addEventListener('click', async () => {
      start.disabled = true;
      status.textContent = messages.starting;
      const answer = await api('POST', '/v1/reconciliations', {});
      if (answer.status !== 202) {
        status.textContent = failure(answer);
        status.dataset.state = 'failed';
        start.disabled = false;
        return;
      }
      await follow(answer.body.id);
    });
    if (data.running) void follow(data.running);
  }
})();
