// Returns desk: a merchant's tickets with their deadlines, a ticket's detail and timeline, approve
// (with a service fee) and reject, and a bulk approve with its progress. Talks only to this API.
"use strict";

const KEY_STORE = "aftersales.merchant.apiKey";
const PAGE = 50;
const REVIEW = "awaiting_merchant_review";
const POLL_MS = 500;
const DONE = { approve: "Approved", reject: "Rejected" };

const $ = (id) => document.getElementById(id);
let cursor = null; // the list's next page
let current = null; // the ticket shown in the detail
const selected = new Set(); // ticket numbers ticked for the bulk approve

const api = Pages.client(KEY_STORE, () =>
  askForKey("The API key was refused: enter your shop's key again."));
const words = Pages.words;

function money(minor, currency, exponent) {
  return minor === null || minor === undefined ? "—" : Pages.money(minor, currency, exponent);
}

// "12.5" in a currency of 2 digits is 1250 minor units; null when it is not an amount.
function minorUnits(text, exponent) {
  const match = /^(\d{1,15})(?:\.(\d*))?$/.exec(text.trim());
  if (!match || (match[2] || "").length > exponent) return null;
  const digits = `${match[1]}${(match[2] || "").padEnd(exponent, "0")}`;
  // Beyond 15 digits a JavaScript number is no longer exact.
  return digits.replace(/^0+(?=\d)/, "").length > 15 ? null : Number(digits);
}

function when(iso) {
  if (!iso) return "—";
  return new Date(iso).toLocaleString("en-GB", { dateStyle: "medium", timeStyle: "short" });
}

function dueIn(iso) {
  if (!iso) return "";
  const minutes = Math.round((new Date(iso).getTime() - Date.now()) / 60000);
  if (minutes <= 0) return "passed";
  if (minutes < 60) return `in ${minutes} min`;
  const hours = Math.round(minutes / 60);
  return hours < 48 ? `in ${hours} h` : `in ${Math.round(hours / 24)} days`;
}

function cell(row, content) {
  const td = document.createElement("td");
  if (content instanceof Node) td.appendChild(content);
  else td.textContent = content;
  row.appendChild(td);
  return td;
}

function notice(text) {
  const box = $("notice");
  box.textContent = text;
  box.hidden = !text;
}

function askForKey(why) {
  $("desk").hidden = true;
  $("desk-key").hidden = true;
  $("key-form").hidden = false;
  notice(why || "");
  $("api-key").focus();
}

function ready() {
  $("key-form").hidden = true;
  $("desk").hidden = false;
  $("desk-key").hidden = false;
  $("key-prefix").textContent = `${api.key().slice(0, 12)}…`;
  notice("");
  loadTickets(true);
}

function query() {
  const params = new URLSearchParams({ limit: String(PAGE) });
  const status = $("filter-status").value;
  if (status === "open") params.set("open", "true");
  else if (status !== "all") params.set("status", status);
  for (const [id, name] of [["filter-type", "type"], ["filter-ticket", "ticket_no"],
    ["filter-order", "order_id"]]) {
    const value = $(id).value.trim();
    if (value) params.set(name, value);
  }
  if (cursor) params.set("cursor", cursor);
  return params;
}

function ticketRow(ticket) {
  const row = document.createElement("tr");
  row.dataset.ticketNo = ticket.ticket_no;
  const box = document.createElement("input");
  box.type = "checkbox";
  box.setAttribute("aria-label", `Select ${ticket.ticket_no}`);
  box.disabled = ticket.status !== REVIEW;
  box.checked = selected.has(ticket.ticket_no);
  box.addEventListener("change", () => {
    if (box.checked) selected.add(ticket.ticket_no);
    else selected.delete(ticket.ticket_no);
    showSelection();
  });
  cell(row, box);
  const open = document.createElement("button");
  open.type = "button";
  open.className = "link";
  open.textContent = ticket.ticket_no;
  open.addEventListener("click", () => showTicket(ticket.ticket_no));
  cell(row, open);
  cell(row, words(ticket.type));
  cell(row, words(ticket.status)).className = `status status-${ticket.status}`;
  cell(row, money(ticket.quoted_amount, ticket.currency, ticket.currency_exponent));
  const deadline = cell(row, when(ticket.deadline_at));
  if (ticket.deadline_at) {
    const soon = document.createElement("span");
    soon.className = "muted";
    soon.textContent = ` (${dueIn(ticket.deadline_at)})`;
    deadline.appendChild(soon);
  }
  cell(row, ticket.on_timeout ? words(ticket.on_timeout) : "—");
  cell(row, when(ticket.created_at));
  return row;
}

async function loadTickets(fresh) {
  if (fresh) {
    cursor = null;
    $("tickets").tBodies[0].replaceChildren();
    $("select-all").checked = false;
  }
  try {
    const page = await api.call("GET", `/v1/tickets?${query()}`);
    const body = $("tickets").tBodies[0];
    for (const ticket of page.items) body.appendChild(ticketRow(ticket));
    cursor = page.next_cursor;
    $("more").hidden = !cursor;
    $("empty").hidden = body.rows.length > 0;
    $("tickets-caption").textContent = `Tickets (${body.rows.length}${cursor ? "+" : ""})`;
    showSelection();
  } catch (error) {
    if (error.status !== 401) notice(`Tickets not loaded: ${error.message}`);
  }
}

function showSelection() {
  const button = $("bulk-approve");
  button.textContent = `Approve selected (${selected.size})`;
  button.disabled = selected.size === 0;
}

function selectAll(event) {
  for (const box of $("tickets").tBodies[0].querySelectorAll("input[type=checkbox]")) {
    if (box.disabled) continue;
    box.checked = event.target.checked;
    box.dispatchEvent(new Event("change"));
  }
}

function showTimeline(timeline) {
  const body = $("timeline").tBodies[0];
  body.replaceChildren();
  for (const step of timeline || []) {
    const row = document.createElement("tr");
    cell(row, when(step.at));
    cell(row, step.actor_id ? `${words(step.actor_role)} ${step.actor_id}` : words(step.actor_role));
    cell(row, words(step.event));
    cell(row, words(step.to_status));
    cell(row, step.reason || "");
    body.appendChild(row);
  }
}

async function showTicket(ticketNo) {
  try {
    current = await api.call("GET", `/v1/tickets/${encodeURIComponent(ticketNo)}`);
  } catch (error) {
    if (error.status !== 401) notice(`Ticket not loaded: ${error.message}`);
    return;
  }
  const t = current;
  const e = t.currency_exponent;
  $("detail-no").textContent = t.ticket_no;
  $("detail-status").textContent = words(t.status);
  $("detail-type").textContent = words(t.type);
  $("detail-order").textContent = t.order_id;
  $("detail-buyer").textContent = t.buyer_id;
  $("detail-reason").textContent = words(t.reason_code);
  $("detail-quoted").textContent = money(t.quoted_amount, t.currency, e);
  $("detail-refunded").textContent = money(t.refunded_amount, t.currency, e);
  $("detail-deadline").textContent = t.deadline_at
    ? `${when(t.deadline_at)} (${dueIn(t.deadline_at)})` : "—";
  $("detail-timeout").textContent = t.on_timeout ? words(t.on_timeout) : "—";
  $("detail-risk").textContent = t.risk ? words(t.risk.level) : "—";
  $("fee-currency").textContent = t.currency;
  $("approve-form").hidden = !t.allowed_actions.includes("approve");
  $("reject-form").hidden = !t.allowed_actions.includes("reject");
  $("approve-fee").value = "0";
  $("approve-note").value = "";
  $("reject-reason").value = "";
  $("reject-note").value = "";
  showTimeline(t.timeline);
  $("detail").hidden = false;
}

function actionResult(text, kind) {
  const result = $("action-result");
  result.textContent = text;
  result.dataset.kind = kind;
  result.hidden = false;
}

async function act(action, body, button) {
  const ticketNo = current.ticket_no;
  button.disabled = true;
  try {
    const detail = await api.call(
      "POST", `/v1/tickets/${encodeURIComponent(ticketNo)}/${action}`,
      { ...body, expected_version: current.version });
    await showTicket(ticketNo);
    actionResult(`${DONE[action]} ${ticketNo}: the ticket is now ${words(detail.status)}.`, "ok");
    selected.delete(ticketNo);
    await loadTickets(true);
  } catch (error) {
    if (error.status !== 401) actionResult(`${words(action)} refused: ${error.message}`, "error");
  } finally {
    button.disabled = false;
  }
}

function onApprove(event) {
  event.preventDefault();
  const fee = minorUnits($("approve-fee").value, current.currency_exponent);
  if (fee === null) {
    actionResult(`The service fee is not an amount in ${current.currency}.`, "error");
    return;
  }
  act("approve", { service_fee: fee, note: $("approve-note").value.trim() }, $("approve"));
}

function onReject(event) {
  event.preventDefault();
  act("reject", {
    reason_code: $("reject-reason").value.trim(), note: $("reject-note").value.trim(),
  }, $("reject"));
}

async function onBulkApprove() {
  const ticketNos = [...selected];
  if (!ticketNos.length) return;
  const button = $("bulk-approve");
  button.disabled = true;
  $("bulk-failures").replaceChildren();
  $("bulk-run").hidden = false;
  let run;
  try {
    run = await api.call("POST", "/v1/tickets/bulk/approve", { ticket_nos: ticketNos });
  } catch (error) {
    $("bulk-status").textContent = `Bulk approve refused: ${error.message}`;
    showSelection();
    return;
  }
  selected.clear();
  $("bulk-label").textContent = `Bulk approve ${run.bulk_id}`;
  for (;;) {
    showProgress(run);
    if (run.status === "finished") break;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    try {
      run = await api.call("GET", `/v1/tickets/bulk/${encodeURIComponent(run.bulk_id)}?limit=1`);
    } catch (error) {
      if (error.status !== 401) $("bulk-status").textContent = `Progress unknown: ${error.message}`;
      return;
    }
  }
  const failed = await api.call(
    "GET", `/v1/tickets/bulk/${encodeURIComponent(run.bulk_id)}?outcome=failed&limit=1000`);
  for (const result of failed.results) {
    const item = document.createElement("li");
    item.textContent = `${result.ticket_no}: ${result.message} (${result.code})`;
    $("bulk-failures").appendChild(item);
  }
  await loadTickets(true);
}

function showProgress(run) {
  const progress = $("bulk-progress");
  progress.max = run.total;
  progress.value = run.done + run.failed;
  const state = run.status === "finished" ? "finished" : "running";
  $("bulk-status").textContent =
    `${run.done + run.failed} of ${run.total} handled: ${run.done} approved, ` +
    `${run.failed} failed (${state})`;
}

function onSaveKey(event) {
  event.preventDefault();
  const key = $("api-key").value.trim();
  if (!key) return;
  api.save(key);
  $("api-key").value = "";
  ready();
}

document.addEventListener("DOMContentLoaded", () => {
  $("key-form").addEventListener("submit", onSaveKey);
  $("filters").addEventListener("submit", (event) => {
    event.preventDefault();
    loadTickets(true);
  });
  $("more").addEventListener("click", () => loadTickets(false));
  $("select-all").addEventListener("change", selectAll);
  $("bulk-approve").addEventListener("click", onBulkApprove);
  $("approve-form").addEventListener("submit", onApprove);
  $("reject-form").addEventListener("submit", onReject);
  $("forget-key").addEventListener("click", () => {
    api.forget();
    askForKey();
  });
  if (api.key()) ready();
  else askForKey();
});
