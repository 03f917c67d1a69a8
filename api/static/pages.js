// What the pages this API serves share: their calls to this API under the key kept in this
// browser, and how they write codes and amounts.
"use strict";

const Pages = {
  // Calls under the API key kept in localStorage at `store`; `refused` is told of a 401.
  client(store, refused) {
    const key = () => window.localStorage.getItem(store);
    async function call(method, path, body) {
      const response = await fetch(path, {
        method,
        headers: { Authorization: `Bearer ${key()}`, "Content-Type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const data = await response.json().catch(() => ({}));
      if (response.status === 401 && refused) refused();
      if (!response.ok) {
        const problem = new Error(data.detail || `${response.status} ${response.statusText}`);
        problem.status = response.status;
        problem.code = data.code;
        throw problem;
      }
      return data;
    }
    return {
      key,
      call,
      save: (value) => window.localStorage.setItem(store, value),
      forget: () => window.localStorage.removeItem(store),
    };
  },

  // "awaiting_merchant_review" as "Awaiting merchant review".
  words(code) {
    const text = String(code ?? "").replaceAll("_", " ");
    return text.charAt(0).toUpperCase() + text.slice(1);
  },

  // Exact, from the integer's digits (never a float), and written as domain.money.format_minor
  // writes it: "CNY 1,234.56", "JPY 3,000", "KWD 12.345".
  money(minor, currency, exponent) {
    const sign = minor < 0 ? "-" : "";
    const digits = String(Math.abs(minor)).padStart(exponent + 1, "0");
    const whole = digits.slice(0, digits.length - exponent).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
    const fraction = exponent ? `.${digits.slice(digits.length - exponent)}` : "";
    return `${currency} ${sign}${whole}${fraction}`;
  },
};
