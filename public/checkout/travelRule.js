// ClinicPay checkout page, while the payer's travel-rule information is pending: the form of the
// payer's details, signed by their wallet (EIP-712), sent as JSON. Loaded after checkout.js, whose
// helpers it uses (window.ClinicPayCheckout). No third parties.
(function () {
  'use strict';
  var shared = window.ClinicPayCheckout;
  if (!shared) return;
  var main = shared.main;
  var messages = shared.messages;
  var text = shared.text;
  var injectedWallet = shared.injectedWallet;
  var ensureChain = shared.ensureChain;

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
