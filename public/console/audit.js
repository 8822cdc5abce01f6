// ClinicPay console, audit log: "verify the chain" asks the API (GET /v1/audit-log/verify, with
// the session) to recompute the whole hash chain, and says the answer in words and a mark.
(() => {
  'use strict';
  const { messages, fill, api, problemText } = window.ClinicPayConsole;
  const button = document.getElementById('verify-chain');
  const result = document.getElementById('chain-result');
  if (!button || !result) return;
  button.disabled = false;

  const say = (state, text) => {
    result.dataset.state = state;
    result.className = state === 'verified' ? 'badge' : state === 'checking' ? '' : 'notice';
    result.textContent = text;
  };

  button.addEventListener('click', async () => {
    button.disabled = true;
    say('checking', messages.chain_checking);
    try {
      const answer = await api('GET', '/v1/audit-log/verify');
      if (answer.status !== 200) return say('error', fill(messages.chain_error, { reason: problemText(answer) }));
      const check = answer.body;
      if (check.ok) {
        say('verified', check.head ? fill(messages.chain_ok, { rows: check.rows_checked, seq: check.head.seq }) : messages.chain_ok_empty);
      } else {
        say('broken', fill(messages.chain_broken, { seq: check.first_broken?.seq ?? '?', reason: check.first_broken?.reason ?? '' }));
      }
    } catch (error) {
      say('error', fill(messages.chain_error, { reason: String(error?.message || error) }));
    } finally {
      button.disabled = false;
    }
  });
})();
