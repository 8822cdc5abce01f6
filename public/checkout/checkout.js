// ClinicPay checkout page: live status, copy buttons and "Pay with wallet" (EIP-1193). The
// travel-rule form has a script of its own (travelRule.js), loaded only where the form is.
// The page works without this file as far as it can; it only adds what needs JavaScript. No third parties.
(function () {
  'use strict';
  var main = document.getElementById('checkout');
  if (!main) return;
  var messagesElement = document.getElementById('messages');
  var messages = messagesElement ? JSON.parse(messagesElement.textContent || '{}') : {};
  var FINAL = ['paid', 'overpaid', 'expired', 'void'];
  var POLL_MS = 2500;

  function text(key, params) {
    var template = messages[key] || key;
    return template.replace(/\{(\w+)\}/g, function (whole, name) {
      return params && params[name] !== undefined ? String(params[name]) : whole;
    });
  }

  function money(amount) {
    // Intl formats the exact decimal string (no float arithmetic on amounts here).
    return new Intl.NumberFormat(main.dataset.locale, {
      style: 'currency',
      currency: main.dataset.currency,
      minimumFractionDigits: 2,
      maximumFractionDigits: 2,
    }).format(amount);
  }

  /** A time in Hong Kong, as the server writes it (see formatTime in src/checkout/pages.ts). */
  function hongKongTime(iso) {
    return new Intl.DateTimeFormat(main.dataset.locale, {
      year: 'numeric',
      month: 'short',
      day: 'numeric',
      hour: '2-digit',
      minute: '2-digit',
      timeZone: 'Asia/Hong_Kong',
      timeZoneName: 'short',
    }).format(new Date(iso));
  }

  function setText(id, value) {
    var element = document.getElementById(id);
    if (element && element.textContent !== value) element.textContent = value;
  }

  function render(state) {
    // The travel-rule information came in (in another tab, say): the page now says where to pay.
    if (main.dataset.travelRule === 'pending' && state.travel_rule && state.travel_rule !== 'pending') {
      stop();
      location.reload();
      return;
    }
    var shown = state.status === 'processing' && !state.confirmations ? 'open' : state.status;
    var status = shown === 'open' && state.travel_rule === 'pending' ? 'travel_rule' : shown;
    var params = {
      amount: money(state.amount_due),
      paid: money(state.amount_paid),
      remaining: money(state.amount_remaining),
      current: state.confirmations ? state.confirmations.current : 0,
      required: state.confirmations ? state.confirmations.required : 0,
    };
    main.dataset.status = state.status;
    setText('status-title', text('status_' + status, params));
    setText('status-detail', text('status_' + status + '_detail', params));
    var box = document.getElementById('status');
    if (box) box.className = 'status status-' + state.status;
    var settled = state.status === 'paid' || state.status === 'overpaid';
    var receipt = document.getElementById('receipt-links');
    if (receipt) receipt.hidden = !settled;
    if (settled && state.paid_at) {
      // What was paid and when, no longer what is due and by when.
      setText('amount-title', text('amount_paid_title', params));
      setText('amount-value', params.paid);
      setText('amount-note', text('paid_on', { time: hongKongTime(state.paid_at) }));
    }
    var pay = document.getElementById('pay');
    if (pay) pay.hidden = FINAL.indexOf(state.status) !== -1;
    var travelRuleSection = document.getElementById('travel-rule');
    if (travelRuleSection) travelRuleSection.hidden = FINAL.indexOf(state.status) !== -1;
    var link = document.getElementById('open-wallet');
    if (state.status === 'underpaid' && state.token_amount_to_send && state.payment_uri) {
      setText('token-amount', state.token_amount_to_send);
      setText('amount-to-send', state.token_amount_to_send);
      if (link) link.setAttribute('href', state.payment_uri);
      main.dataset.tokenUnits = toUnits(state.token_amount_to_send);
      // What is still to send in each token the patient may choose (in the order the page lists them).
      (state.payment_options || []).forEach(function (option, index) {
        setText('option-amount-' + index, option.token_amount_to_send);
      });
    }
  }

  function toUnits(decimalText) {
    // The token amount still to send, back in base units, as the wallet call needs them.
    var decimals = Number(main.dataset.tokenDecimals || '0');
    var parts = decimalText.split('.');
    var fraction = (parts[1] || '').padEnd(decimals, '0').slice(0, decimals);
    return (BigInt(parts[0]) * BigInt(10) ** BigInt(decimals) + BigInt(fraction || '0')).toString();
  }

  var polling = null;
  function poll() {
    fetch(main.dataset.statusUrl, { headers: { Accept: 'application/json' }, cache: 'no-store', credentials: 'omit' })
      .then(function (response) {
        if (!response.ok) throw new Error('status ' + response.status);
        return response.json();
      })
      .then(function (state) {
        render(state);
        if (FINAL.indexOf(state.status) !== -1) stop();
      })
      .catch(function () {
        // A failed poll is retried on the next tick; the page stays as it was.
      });
  }
  function stop() {
    if (polling !== null) clearInterval(polling);
    polling = null;
  }
  if (!main.dataset.final) polling = setInterval(poll, POLL_MS);

  // Copy buttons appear only where the Clipboard API is there to back them.
  if (navigator.clipboard) {
    Array.prototype.forEach.call(document.querySelectorAll('button.copy'), function (button) {
      button.hidden = false;
      button.addEventListener('click', function () {
        var source = document.getElementById(button.dataset.copy);
        if (!source) return;
        navigator.clipboard.writeText(source.textContent || '').then(function () {
          var label = button.textContent;
          button.textContent = text('copied');
          setTimeout(function () {
            button.textContent = label;
          }, 2000);
        });
      });
    });
  }

  /** The injected EIP-1193 wallet, if there is one (looked up when needed: some inject late). */
  function injectedWallet() {
    var wallet = window.ethereum;
    return wallet && typeof wallet.request === 'function' ? wallet : null;
  }

  /** Asks the wallet to switch to the invoice's chain (an error of code 4902 if it does not know it). */
  function switchChain(wallet) {
    var chainHex = '0x' + Number(main.dataset.chainId).toString(16);
    return wallet.request({ method: 'wallet_switchEthereumChain', params: [{ chainId: chainHex }] });
  }

  function wrongChain() {
    var error = new Error(text('wallet_wrong_chain', { chain: Number(main.dataset.chainId) }));
    error.code = 4902;
    return error;
  }

  /** The wallet's chain is the invoice's: as it is, or once switched (then read back, for wallets that switch silently or not at all). */
  function ensureChain(wallet) {
    var chainId = Number(main.dataset.chainId);
    function current() {
      return wallet.request({ method: 'eth_chainId' }).then(function (hex) {
        return Number(hex);
      });
    }
    return current().then(function (active) {
      if (active === chainId) return;
      return switchChain(wallet)
        .then(current)
        .then(function (switched) {
          if (switched !== chainId) throw wrongChain();
        });
    });
  }

  // "Pay with wallet": only when a wallet is injected (EIP-1193).
  var payButton = document.getElementById('pay-with-wallet');
  var walletMessage = document.getElementById('wallet-message');
  var ethereum = injectedWallet();
  if (payButton && ethereum) {
    payButton.hidden = false;
    payButton.addEventListener('click', function () {
      payWithWallet().catch(function (error) {
        var chainId = Number(main.dataset.chainId);
        if (error && error.code === 4902) walletMessage.textContent = text('wallet_wrong_chain', { chain: chainId });
        else walletMessage.textContent = text('wallet_rejected', { reason: error?.message || String(error) });
        payButton.disabled = false;
      });
    });
  }

  function pad32(hex) {
    return hex.replace(/^0x/, '').toLowerCase().padStart(64, '0');
  }

  function payWithWallet() {
    payButton.disabled = true;
    walletMessage.textContent = text('wallet_working');
    return ethereum
      .request({ method: 'eth_requestAccounts' })
      .then(function (accounts) {
        return switchChain(ethereum).then(function () {
          return accounts;
        });
      })
      .then(function (accounts) {
        // ERC-20 transfer(address,uint256) of exactly what is still due, to the deposit address.
        var data = '0xa9059cbb' + pad32(main.dataset.depositAddress) + pad32(BigInt(main.dataset.tokenUnits).toString(16));
        return ethereum.request({ method: 'eth_sendTransaction', params: [{ from: accounts[0], to: main.dataset.tokenAddress, data: data, value: '0x0' }] });
      })
      .then(function () {
        walletMessage.textContent = text('wallet_sent');
        poll();
      });
  }

  // What the travel-rule form's script (travelRule.js, loaded only on pages that show the form) shares with this one.
  window.ClinicPayCheckout = { main: main, messages: messages, text: text, injectedWallet: injectedWallet, ensureChain: ensureChain };
})();
