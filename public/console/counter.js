// ClinicPay counter screen: follows the bill live (no reload) until it is paid, expired or void;
// redraws the QR when something is still to pay (and draws it once the patient's travel-rule
// details are in, when there was none); shows the checkout link's QR when this tab created the
// bill; a chime when paid, unless switched off.
(() => {
  'use strict';
  const dataElement = document.getElementById('page-data');
  const main = document.getElementById('counter');
  if (!dataElement || !main) return;
  const data = JSON.parse(dataElement.textContent || '{}');
  const FINAL = ['paid', 'overpaid', 'expired', 'void'];
  const statusBox = document.getElementById('counter-status');
  const statusText = document.getElementById('counter-status-text');
  const paymentQr = document.getElementById('payment-qr');
  const sound = document.getElementById('sound');
  let paymentUri = null;

  sound.checked = localStorage.getItem('clinicpay.counter.sound') !== 'off';
  sound.addEventListener('change', () => localStorage.setItem('clinicpay.counter.sound', sound.checked ? 'on' : 'off'));

  function chime() {
    if (!sound.checked || !window.AudioContext) return;
    const context = new AudioContext();
    const tone = context.createOscillator();
    const gain = context.createGain();
    tone.frequency.value = 880;
    gain.gain.setValueAtTime(0.2, context.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.001, context.currentTime + 0.6);
    tone.connect(gain).connect(context.destination);
    tone.start();
    tone.stop(context.currentTime + 0.6);
  }

  async function redrawQr() {
    const response = await fetch(data.qr_url, { credentials: 'same-origin', cache: 'no-store' });
    if (response.ok) document.getElementById('payment-qr-image').innerHTML = await response.text();
  }

  function render(state) {
    const was = main.dataset.status;
    main.dataset.status = state.status;
    statusBox.className = `counter-status status-${state.status}`;
    if (statusText.textContent !== state.text) statusText.textContent = state.text;
    paymentQr.hidden = !state.payment_uri;
    // A changed request, or the first one (the page had none while waiting for the patient's details).
    const drawn = document.getElementById('payment-qr-image').childElementCount > 0;
    if (state.payment_uri && (!drawn || (paymentUri !== null && state.payment_uri !== paymentUri))) redrawQr();
    paymentUri = state.payment_uri;
    if (main.dataset.travelRule === 'pending' && state.travel_rule && state.travel_rule !== 'pending') {
      // The patient's details are in: the checkout link now leads to where to pay.
      main.dataset.travelRule = state.travel_rule;
      document.getElementById('checkout-qr-caption').textContent = data.messages.counter_link;
    }
    if ((state.status === 'paid' || state.status === 'overpaid') && was !== state.status) {
      // The checkout link now leads to the receipt.
      document.getElementById('checkout-qr-caption').textContent = data.messages.counter_receipt;
      chime();
    }
  }

  async function poll() {
    try {
      const response = await fetch(data.status_url, { credentials: 'same-origin', cache: 'no-store', headers: { accept: 'application/json' } });
      if (response.ok) {
        const state = await response.json();
        render(state);
        if (FINAL.includes(state.status)) return;
      }
    } catch {
      // The network blinked: try again on the next tick.
    }
    setTimeout(poll, 2000);
  }

  // The checkout link's QR, when this tab just created the bill (the link is shown only then).
  const link = sessionStorage.getItem(`checkout:${data.bill_id}`);
  if (link) {
    fetch(data.checkout_qr_url, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'content-type': 'application/json', 'x-csrf-token': data.csrf_token },
      body: JSON.stringify({ url: link }),
    }).then(async (response) => {
      if (!response.ok) return;
      document.getElementById('checkout-qr-image').innerHTML = await response.text();
      document.getElementById('checkout-qr').hidden = false;
    });
  }

  poll();
})();
