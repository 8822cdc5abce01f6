// ClinicPay console, statements: the verifier. The auditor picks a downloaded statement (JSON);
// the page's verifier (/console/statements/verify.js, the same code as `npx clinicpay verify`)
// checks its Merkle root, numbering and arithmetic in this browser, and with an RPC node the
// auditor names, its transfers and anchor on the chain. Nothing is asked of the gateway.
(() => {
  'use strict';
  const { messages, fill } = window.ClinicPayConsole;
  const form = document.getElementById('verify-form');
  const fileInput = document.getElementById('statement-file');
  const rpcInput = document.getElementById('rpc-url');
  const button = document.getElementById('verify');
  const result = document.getElementById('verify-result');
  if (!form || !fileInput || !rpcInput || !button || !result) return;
  const verifier = window.ClinicPayVerifier;
  if (!verifier) {
    result.textContent = messages.verifier_unavailable;
    return;
  }
  button.disabled = false;

  /** The result: a headline (word and mark), then the problems, each with its line, then what was checked. */
  function show(state, headline, failures = [], notes = []) {
    result.replaceChildren();
    result.dataset.state = state;
    const heading = document.createElement('p');
    heading.id = 'verify-outcome';
    heading.className = state === 'passed' ? 'badge' : 'notice';
    heading.textContent = headline;
    result.append(heading);
    const list = (id, title, items) => {
      if (items.length === 0) return;
      const label = document.createElement('h3');
      label.textContent = title;
      const ul = document.createElement('ul');
      ul.id = id;
      // The verifier words its findings in English, as the command line does.
      ul.lang = 'en';
      for (const item of items) {
        const li = document.createElement('li');
        li.textContent = item;
        ul.append(li);
      }
      result.append(label, ul);
    };
    list(
      'verify-failures',
      messages.verify_failures,
      failures.map((failure) => (failure.line === undefined ? failure.reason : `${fill(messages.verify_line, { line: failure.line })}: ${failure.reason}`)),
    );
    list('verify-notes', messages.verify_notes, notes);
  }

  /** An RPC URL the page's policy lets it reach: https anywhere, plain http only on this computer. */
  function rpcUrl() {
    const value = rpcInput.value.trim();
    if (value === '') return '';
    try {
      const url = new URL(value);
      if (url.protocol === 'https:' || (url.protocol === 'http:' && (url.hostname === 'localhost' || url.hostname === '127.0.0.1'))) return url.href;
    } catch {}
    return undefined;
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const file = fileInput.files?.[0];
    if (!file) return show('failed', messages.verify_no_file);
    const rpc = rpcUrl();
    rpcInput.removeAttribute('aria-invalid');
    if (rpc === undefined) {
      rpcInput.setAttribute('aria-invalid', 'true');
      return show('failed', messages.rpc_bad);
    }
    // The last answer goes before anything is awaited, so nobody (person or test) reads it as this one's.
    button.disabled = true;
    show('checking', messages.verifying);
    let document_;
    try {
      document_ = JSON.parse(await file.text());
    } catch {
      button.disabled = false;
      return show('failed', messages.verify_unreadable);
    }
    try {
      const report = await verifier.verify(document_, rpc || undefined);
      const count = Array.isArray(document_?.lines) ? document_.lines.length : 0;
      if (report.ok) show('passed', fill(messages.verify_pass, { count }), [], report.notes);
      else show('failed', fill(messages.verify_fail, { count: report.failures.length }), report.failures, report.notes);
    } catch (error) {
      show('failed', fill(messages.verify_fail, { count: 1 }), [{ reason: String(error?.message || error) }]);
    } finally {
      button.disabled = false;
    }
  });
  // A new file is a new question: the last answer goes.
  fileInput.addEventListener('change', () => {
    result.replaceChildren();
    delete result.dataset.state;
  });
})();
