// Scan station: a barcode scanner types into #code and ends with Enter; the answer says what to
// do with the parcel; an expected parcel is inspected here. Talks only to this API.
"use strict";

const KEY_STORE = "aftersales.warehouse.apiKey";
const LABELS = {
  inspect: "Inspect",
  already_received: "Already received",
  return_to_sender: "Return to sender",
  unknown_parcel: "Unknown parcel",
  error: "Error",
};

const $ = (id) => document.getElementById(id);
let current = null; // the ticket of the last scan that asked for an inspection

const api = Pages.client(KEY_STORE, () =>
  askForKey("The API key was refused: enter the warehouse's key again."));

function askForKey(why) {
  $("scan-form").hidden = true;
  $("station-key").hidden = true;
  $("key-form").hidden = false;
  if (why) showResult(why, "error");
  $("api-key").focus();
}

function ready() {
  const key = api.key();
  $("key-form").hidden = true;
  $("scan-form").hidden = false;
  $("station-key").hidden = false;
  $("key-prefix").textContent = `${key.slice(0, 12)}…`;
  focusScan();
}

function focusScan() {
  const input = $("code");
  input.focus();
  input.select();
}

function showResult(text, kind) {
  const result = $("result");
  result.textContent = text;
  result.dataset.kind = kind;
  result.hidden = false;
}

function cell(row, text) {
  const td = document.createElement("td");
  td.textContent = text;
  row.appendChild(td);
}

function showAnswer(answer) {
  const section = $("answer");
  section.dataset.outcome = answer.outcome;
  $("outcome").textContent = LABELS[answer.outcome] || answer.outcome;
  $("message").textContent = answer.message;
  const ticket = answer.ticket;
  $("ticket").hidden = !ticket;
  $("lines").hidden = !ticket;
  const body = $("lines").tBodies[0];
  body.replaceChildren();
  if (ticket) {
    $("ticket-no").textContent = ticket.ticket_no;
    $("ticket-type").textContent = ticket.type;
    $("ticket-status").textContent = ticket.status;
    $("ticket-order").textContent = ticket.order_id;
    $("ticket-buyer").textContent = ticket.buyer_id;
    $("ticket-merchant").textContent = ticket.merchant_id;
    $("ticket-tracking").textContent = ticket.tracking_no || "—";
    for (const line of ticket.lines) {
      const row = document.createElement("tr");
      cell(row, line.title);
      cell(row, line.sku);
      cell(row, String(line.quantity));
      body.appendChild(row);
    }
  }
  section.hidden = false;
}

function showError(error) {
  const section = $("answer");
  section.dataset.outcome = "error";
  $("outcome").textContent = LABELS.error;
  $("message").textContent = error.message;
  $("ticket").hidden = true;
  $("lines").hidden = true;
  section.hidden = false;
}

function numberField(id, text, value, max) {
  const wrap = document.createElement("div");
  const label = document.createElement("label");
  label.htmlFor = id;
  label.textContent = text;
  const input = document.createElement("input");
  Object.assign(input, { id, type: "number", min: "0", max: String(max), value: String(value) });
  input.required = true;
  input.inputMode = "numeric";
  wrap.append(label, input);
  return [wrap, input];
}

function openInspection(ticket) {
  current = ticket;
  $("inspection-ticket").textContent = ticket.ticket_no;
  const holder = $("inspection-lines");
  holder.replaceChildren();
  ticket.lines.forEach((line, index) => {
    const fieldset = document.createElement("fieldset");
    const legend = document.createElement("legend");
    legend.textContent = `${line.title} (${line.sku}) × ${line.quantity}`;
    const [acceptedWrap, accepted] = numberField(
      `accepted-${index}`, `Accepted: ${line.title}`, line.quantity, line.quantity);
    const [rejectedWrap, rejected] = numberField(
      `rejected-${index}`, `Rejected: ${line.title}`, 0, line.quantity);
    accepted.dataset.lineId = line.line_id;
    rejected.dataset.lineId = line.line_id;
    // The two always add up to the quantity the ticket claims, so one number is enough.
    rejected.addEventListener("input", () => {
      const n = Number(rejected.value);
      if (Number.isInteger(n) && n >= 0 && n <= line.quantity) accepted.value = line.quantity - n;
    });
    accepted.addEventListener("input", () => {
      const n = Number(accepted.value);
      if (Number.isInteger(n) && n >= 0 && n <= line.quantity) rejected.value = line.quantity - n;
    });
    fieldset.append(legend, acceptedWrap, rejectedWrap);
    holder.appendChild(fieldset);
  });
  $("note").value = "";
  $("photos").value = "";
  $("inspection-form").hidden = false;
  const first = $("accepted-0");
  if (first) {
    first.focus();
    first.select();
  }
}

function closeInspection() {
  current = null;
  $("inspection-form").hidden = true;
}

async function onScan(event) {
  event.preventDefault();
  const code = $("code").value.trim();
  if (!code) return;
  closeInspection();
  $("result").hidden = true;
  try {
    const answer = await api.call("POST", "/v1/warehouse/scans", { code });
    showAnswer(answer);
    if (answer.outcome === "inspect" && answer.ticket) {
      openInspection(answer.ticket);
      return;
    }
  } catch (error) {
    if (error.status === 401) return;
    showError(error);
  }
  focusScan();
}

async function onInspect(event) {
  event.preventDefault();
  if (!current) return;
  const lines = current.lines.map((line, index) => ({
    line_id: line.line_id,
    accepted: Number($(`accepted-${index}`).value),
    rejected: Number($(`rejected-${index}`).value),
  }));
  const photos = $("photos").value.split(/\s+/).filter(Boolean);
  const note = $("note").value.trim();
  const ticketNo = current.ticket_no;
  $("record-inspection").disabled = true;
  try {
    const detail = await api.call("POST", `/v1/tickets/${encodeURIComponent(ticketNo)}/inspection`, {
      lines,
      note,
      photos,
    });
    closeInspection();
    $("ticket-status").textContent = detail.status;
    showResult(`Inspection recorded for ${ticketNo}: the ticket is now ${detail.status}.`, "ok");
    $("code").value = "";
    focusScan();
  } catch (error) {
    if (error.status !== 401) showResult(`Inspection not recorded: ${error.message}`, "error");
  } finally {
    $("record-inspection").disabled = false;
  }
}

function onSaveKey(event) {
  event.preventDefault();
  const key = $("api-key").value.trim();
  if (!key) return;
  api.save(key);
  $("api-key").value = "";
  $("result").hidden = true;
  ready();
}

document.addEventListener("DOMContentLoaded", () => {
  $("key-form").addEventListener("submit", onSaveKey);
  $("scan-form").addEventListener("submit", onScan);
  $("inspection-form").addEventListener("submit", onInspect);
  $("forget-key").addEventListener("click", () => {
    api.forget();
    askForKey();
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && api.key()) {
      closeInspection();
      focusScan();
    }
  });
  if (api.key()) ready();
  else askForKey();
});
