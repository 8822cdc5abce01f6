// ClinicPay checkout page: live status, copy buttons and "Pay with wallet" (EIP-1193); and,
// while the payer's travel-rule information is pending, its form, signed by the wallet (EIP-712).
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

  // The travel-rule form: the payer's details, and their wallet's EIP-712 signature naming this
  // invoice on this chain. Sent as JSON; a refused field is marked in the page's language.
  var form = document.getElementById('travel-rule-form');
  if (form) travelRule(form);

  function travelRule(form) {
    var requestElement = document.getElementById('travel-rule-request');
    var signingRequest = JSON.parse(requestElement?.textContent || '{}');
    var signButton = document.getElementById('tr-sign');
    var status = document.getElementById('tr-status');
    var formError = document.getElementById('tr-form-error');
    var noWallet = document.getElementById('tr-no-wallet');
    var copyLink = document.getElementById('tr-copy-link');
    /** The signature already given, by wallet: fixing a field does not ask the wallet again. */
    var signatures = {};
    var FIELDS = ['full_name', 'id_type', 'id_number', 'id_country', 'birth_date', 'birth_place', 'address_line', 'address_town', 'address_country'];

    function byId(id) {
      return document.getElementById(id);
    }
    function identity() {
      var chosen = form.querySelector('input[name="identity"]:checked');
      return chosen ? chosen.value : 'document';
    }

    // The identity document, or the date and place of birth: only the chosen group is shown and sent.
    function showIdentity() {
      var withDocument = identity() === 'document';
      byId('tr-document').hidden = !withDocument;
      byId('tr-birth').hidden = withDocument;
    }
    Array.prototype.forEach.call(form.querySelectorAll('input[name="identity"]'), function (radio) {
      radio.addEventListener('change', showIdentity);
    });
    showIdentity();

    // A country not on the list is typed as its two-letter code.
    Array.prototype.forEach.call(form.querySelectorAll('select.country'), function (select) {
      var other = byId(select.dataset.other + '-field');
      function update() {
        other.hidden = select.value !== 'other';
      }
      select.addEventListener('change', update);
      update();
    });

    // Birth dates are in the past: the date picker offers no later day.
    var birthDate = byId('tr-birth_date');
    if (birthDate) birthDate.max = new Date().toISOString().slice(0, 10);

    function showNoWallet() {
      noWallet.hidden = false;
      if (navigator.clipboard) copyLink.hidden = false;
    }
    if (!injectedWallet()) showNoWallet();
    copyLink.addEventListener('click', function () {
      navigator.clipboard.writeText(location.href).then(function () {
        copyLink.textContent = text('copied');
      });
    });

    function country(name) {
      var select = byId('tr-' + name);
      return select.value === 'other'
        ? byId('tr-' + name + '-other')
            .value.trim()
            .toUpperCase()
        : select.value;
    }

    /** The form's fields as the gateway takes them: only the chosen identity group. */
    function collect() {
      var value = function (name) {
        return byId('tr-' + name).value.trim();
      };
      var fields = { full_name: value('full_name') };
      if (identity() === 'document') {
        fields.id_type = value('id_type');
        fields.id_number = value('id_number');
        fields.id_country = country('id_country');
      } else {
        fields.birth_date = value('birth_date');
        fields.birth_place = value('birth_place');
      }
      fields.address_line = value('address_line');
      fields.address_town = value('address_town');
      fields.address_country = country('address_country');
      return fields;
    }

    /** What is plainly missing, before the wallet is asked anything (the gateway checks everything again). */
    function missing(fields) {
      var errors = [];
      Object.keys(fields).forEach(function (name) {
        if (fields[name] === '') errors.push(name);
        else if (/_country$/.test(name) && !/^[A-Z]{2}$/.test(fields[name])) errors.push(name);
      });
      if (fields.birth_date && fields.birth_date >= new Date().toISOString().slice(0, 10)) errors.push('birth_date');
      return errors;
    }

    function clearErrors() {
      formError.hidden = true;
      formError.textContent = '';
      Array.prototype.forEach.call(form.querySelectorAll('.field-error'), function (element) {
        element.hidden = true;
        element.textContent = '';
      });
      Array.prototype.forEach.call(form.querySelectorAll('[aria-invalid]'), function (element) {
        element.removeAttribute('aria-invalid');
      });
    }

    /** The control a field's error belongs to: a country's code input when "other" is chosen. */
    function controlOf(name) {
      var control = byId('tr-' + name);
      if (control?.classList.contains('country') && control.value === 'other') return byId('tr-' + name + '-other');
      return control;
    }

    /** Marks field `name` with `message` next to it; false if the field is not on show. */
    function markField(name, message) {
      var control = controlOf(name);
      if (!control || control.closest('[hidden]')) return false;
      var error = byId(control.id + '-error');
      error.textContent = message;
      error.hidden = false;
      control.setAttribute('aria-invalid', 'true');
      return true;
    }

    /** What to say of field `name`: that it is missing (when it is empty), else what it takes. */
    function fieldMessage(name, empty) {
      var control = controlOf(name);
      if (control?.classList.contains('country-code')) return text('tr_err_country_code');
      if (empty && messages['tr_missing_' + name]) return text('tr_missing_' + name);
      return text('tr_err_' + name);
    }

    /** Marks `names` and moves to the first; a message at the top says to look below. */
    function showFieldErrors(names, detail) {
      var marked = names.filter(function (name) {
        var control = controlOf(name);
        return markField(name, fieldMessage(name, !!control && control.value.trim() === ''));
      });
      formError.textContent = marked.length > 0 ? text('tr_check_fields') : detail || text('tr_check_fields');
      formError.hidden = false;
      if (marked.length > 0) controlOf(marked[0]).focus();
      else formError.focus();
    }

    function showSignatureError() {
      var error = byId('tr-signature-error');
      error.textContent = text('tr_err_signature');
      error.hidden = false;
      signButton.focus();
    }

    /** The wallet's account, on the invoice's chain, and its signature of the request (given once per account). */
    function sign(wallet) {
      status.textContent = text('tr_working');
      return wallet
        .request({ method: 'eth_requestAccounts' })
        .then(function (accounts) {
          if (!accounts?.[0]) throw new Error('no account');
          return ensureChain(wallet).then(function () {
            return String(accounts[0]);
          });
        })
        .then(function (account) {
          var key = account.toLowerCase();
          if (signatures[key]) return { account: account, signature: signatures[key] };
          var typedData = JSON.parse(JSON.stringify(signingRequest));
          typedData.message.payer = account;
          return wallet.request({ method: 'eth_signTypedData_v4', params: [account, JSON.stringify(typedData)] }).then(function (signature) {
            signatures[key] = signature;
            return { account: account, signature: signature };
          });
        });
    }

    function send(fields, signed) {
      status.textContent = text('tr_sending');
      var body = {};
      Object.keys(fields).forEach(function (name) {
        body[name] = fields[name];
      });
      body.payer_address = signed.account;
      body.signature = signed.signature;
      return fetch(form.dataset.url, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
        body: JSON.stringify(body),
        cache: 'no-store',
        credentials: 'omit',
      }).then(function (response) {
        if (response.ok) {
          status.textContent = text('tr_saved');
          location.reload();
          return;
        }
        return response
          .json()
          .catch(function () {
            return {};
          })
          .then(function (problem) {
            status.textContent = '';
            signButton.disabled = false;
            // In already (another tab?), or not needed after all: the page shows where to pay.
            if (problem.code === 'travel_rule_captured' || problem.param === 'token') {
              location.reload();
              return;
            }
            if (problem.param === 'signature' || problem.param === 'payer_address') {
              if (signed.account) delete signatures[signed.account.toLowerCase()];
              showSignatureError();
            } else if (FIELDS.indexOf(problem.param) !== -1) {
              showFieldErrors([problem.param], problem.detail);
            } else {
              formError.textContent = text('tr_failed', { reason: problem.detail || problem.title || response.status });
              formError.hidden = false;
              formError.focus();
            }
          });
      });
    }

    form.addEventListener('submit', function (event) {
      event.preventDefault();
      if (signButton.disabled) return;
      clearErrors();
      status.textContent = '';
      var fields = collect();
      var errors = missing(fields);
      if (errors.length > 0) return showFieldErrors(errors);
      var wallet = injectedWallet();
      if (!wallet) {
        showNoWallet();
        status.textContent = text('tr_no_wallet');
        return;
      }
      noWallet.hidden = true;
      signButton.disabled = true;
      sign(wallet)
        .then(function (signed) {
          return send(fields, signed);
        })
        .catch(function (error) {
          signButton.disabled = false;
          if (error?.code === 4902) status.textContent = text('wallet_wrong_chain', { chain: Number(main.dataset.chainId) });
          else status.textContent = text('tr_rejected', { reason: error?.message || String(error) });
        });
    });
  }
})();
