// After-sales dashboard: figures and charts from GET /v1/dashboard, for a merchant (its own
// shop) or support (every shop, or one). Talks only to this API; Chart.js is served by it too.
"use strict";

const KEY_STORE = "aftersales.dashboard.apiKey";
const DAY_MS = 24 * 60 * 60 * 1000;
const DEFAULT_DAYS = 30;
// Presentation only: which colour a status is drawn in. The API lists every status.
const TERMINAL = new Set(["completed", "cancelled", "closed"]);
const SIDE = new Set(["rejected", "inspection_failed", "under_arbitration", "refund_failed"]);
const COLOURS = { waiting: "#1a56db", side: "#c2410c", terminal: "#15803d" };
const REASON_COLOUR = "#6d28d9";
const MEDIAN_COLOUR = "#0e7490";
const P90_COLOUR = "#94a3b8";
const REFUND_COLOUR = "#15803d";

const $ = (id) => document.getElementById(id);
const charts = new Map(); // canvas id -> Chart
let viewer = null; // the role of the key, once the API has answered

const api = Pages.client(KEY_STORE, null); // a 401 is told where each call is made
const { words, money } = Pages;

function duration(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  if (seconds < 90) return `${Math.round(seconds)} s`;
  const minutes = seconds / 60;
  if (minutes < 90) return `${Math.round(minutes)} min`;
  const hours = minutes / 60;
  if (hours < 48) return `${hours.toFixed(1)} h`;
  return `${(hours / 24).toFixed(1)} d`;
}

// The unit a chart of durations up to `largest` seconds reads best in.
function durationUnit(largest) {
  if (largest < 120) return { name: "seconds", seconds: 1 };
  if (largest < 120 * 60) return { name: "minutes", seconds: 60 };
  if (largest < 72 * 3600) return { name: "hours", seconds: 3600 };
  return { name: "days", seconds: 86400 };
}

function isoDay(date) {
  return date.toISOString().slice(0, 10);
}

function dayLabel(day) {
  return new Date(`${day}T00:00:00Z`).toLocaleDateString("en-GB", {
    day: "numeric",
    month: "short",
    timeZone: "UTC",
  });
}

function periodText(fromDay, toDay) {
  const options = { day: "numeric", month: "short", year: "numeric", timeZone: "UTC" };
  const from = new Date(`${fromDay}T00:00:00Z`).toLocaleDateString("en-GB", options);
  const to = new Date(`${toDay}T00:00:00Z`).toLocaleDateString("en-GB", options);
  return `${from} – ${to} (UTC)`;
}

function dueText(at, now) {
  const when = new Date(at);
  const left = Math.max(0, when.getTime() - now.getTime());
  const hours = Math.floor(left / 3600000);
  const minutes = Math.floor((left % 3600000) / 60000);
  const local = when.toLocaleString("en-GB", {
    day: "numeric",
    month: "short",
    hour: "2-digit",
    minute: "2-digit",
  });
  return `${local} (in ${hours} h ${minutes} min)`;
}

function showProblem(text) {
  $("problem").textContent = text;
  $("problem").hidden = !text;
}

function askForKey(why) {
  $("filters").hidden = true;
  $("board").hidden = true;
  $("dashboard-key").hidden = true;
  $("key-form").hidden = false;
  showProblem(why || "");
  $("api-key").focus();
}

function initialFilters() {
  const params = new URLSearchParams(window.location.search);
  const today = new Date();
  $("to").value = params.get("to") || isoDay(today);
  $("from").value =
    params.get("from") || isoDay(new Date(today.getTime() - (DEFAULT_DAYS - 1) * DAY_MS));
  $("merchant").value = params.get("merchant") || "";
}

function ready() {
  $("key-form").hidden = true;
  $("filters").hidden = false;
  $("dashboard-key").hidden = false;
  $("key-prefix").textContent = `${api.key().slice(0, 14)}…`;
  load();
}

async function load() {
  const fromDay = $("from").value;
  const toDay = $("to").value;
  if (!fromDay || !toDay || fromDay > toDay) {
    showProblem("Choose a period whose first day is not after its last.");
    return;
  }
  const end = new Date(new Date(`${toDay}T00:00:00Z`).getTime() + DAY_MS);
  const query = new URLSearchParams({ from: `${fromDay}T00:00:00Z`, to: end.toISOString() });
  const merchant = $("merchant").value.trim();
  // A merchant's key shows its own shop: a shop named in the link is support's filter.
  if (merchant && viewer !== "merchant") query.set("merchant_id", merchant);

  const shown = new URLSearchParams({ from: fromDay, to: toDay });
  if (merchant) shown.set("merchant", merchant);
  window.history.replaceState(null, "", `?${shown}`);

  $("board").setAttribute("aria-busy", "true");
  $("show").disabled = true;
  try {
    const data = await api.call("GET", `/v1/dashboard?${query}`);
    showProblem("");
    render(data, fromDay, toDay);
  } catch (error) {
    if (error.status === 401) {
      askForKey("The API key was refused: enter a merchant's or support's key again.");
    } else if (error.code === "forbidden_merchant" && viewer === null) {
      viewer = "merchant";
      $("merchant").value = "";
      await load();
    } else {
      $("board").hidden = true;
      showProblem(`The dashboard could not be shown: ${error.message}`);
    }
  } finally {
    $("show").disabled = false;
  }
}

function render(data, fromDay, toDay) {
  viewer = data.viewer;
  const support = viewer === "support";
  $("merchant-filter").hidden = !support;
  const shop = data.period.merchant_id ? `Shop ${data.period.merchant_id}` : "Every shop";
  $("scope").textContent = `${shop} · ${periodText(fromDay, toDay)}`;

  renderCards(data);
  $("board").hidden = false;
  drawStatus(data.tickets.by_status);
  drawReasons(data.tickets.by_reason);
  drawResolution(data.resolution.by_type);
  drawRefunds(data.refunded);
  renderDue(data.deadlines, new Date(data.generated_at));
  $("board").setAttribute("aria-busy", "false");
}

function renderCards(data) {
  $("fig-opened").textContent = String(data.tickets.opened);
  const open = Object.entries(data.tickets.by_status)
    .filter(([status]) => !TERMINAL.has(status))
    .reduce((sum, [, count]) => sum + count, 0);
  $("fig-opened-note").textContent = `${open} still open`;

  const approval = data.approval;
  $("fig-approval").textContent =
    approval.rate === null ? "—" : `${(approval.rate * 100).toFixed(1)} %`;
  $("fig-approval-note").textContent = `${approval.approved} of ${approval.decided} decided`;

  const overall = data.resolution.overall;
  $("fig-median").textContent = duration(overall.median_seconds);
  $("fig-median").dataset.seconds = String(overall.median_seconds);
  $("fig-median-note").textContent = `${overall.resolved} resolved`;
  $("fig-p90").textContent = duration(overall.p90_seconds);
  $("fig-p90").dataset.seconds = String(overall.p90_seconds);

  const amounts = $("fig-refunded");
  amounts.replaceChildren();
  for (const each of data.refunded.currencies) {
    const item = document.createElement("li");
    item.dataset.currency = each.currency;
    item.textContent = money(each.total, each.currency, each.exponent);
    amounts.appendChild(item);
  }
  if (!data.refunded.currencies.length) {
    const item = document.createElement("li");
    item.textContent = "nothing";
    amounts.appendChild(item);
  }

  $("fig-due").textContent = String(data.deadlines.count);
  const card = $("fig-due").closest(".card");
  if (data.deadlines.count) card.dataset.alarm = "";
  else delete card.dataset.alarm;
  $("fig-due-note").textContent = data.deadlines.count ? "act before they pass" : "nothing due";
}

function draw(canvasId, config) {
  const old = charts.get(canvasId);
  if (old) old.destroy();
  const chart = new window.Chart($(canvasId), config);
  charts.set(canvasId, chart);
  return chart;
}

function barOptions(horizontal) {
  const counts = { beginAtZero: true, ticks: { precision: 0 } };
  return {
    indexAxis: horizontal ? "y" : "x",
    maintainAspectRatio: false,
    animation: false,
    plugins: { legend: { display: false } },
    scales: horizontal ? { x: counts, y: { grid: { display: false } } } : { y: counts },
  };
}

function emptyNote(canvasId, text) {
  const box = $(canvasId).parentElement;
  let note = box.querySelector(".empty");
  if (!note) {
    note = document.createElement("p");
    note.className = "empty muted";
    box.appendChild(note);
  }
  note.textContent = text;
  note.hidden = !text;
  $(canvasId).hidden = Boolean(text);
}

function drawStatus(byStatus) {
  const shown = Object.entries(byStatus).filter(([, count]) => count > 0);
  emptyNote("chart-status", shown.length ? "" : "No ticket was opened in this period.");
  const colour = ([status]) =>
    TERMINAL.has(status) ? COLOURS.terminal : SIDE.has(status) ? COLOURS.side : COLOURS.waiting;
  draw("chart-status", {
    type: "bar",
    data: {
      labels: shown.map(([status]) => words(status)),
      datasets: [
        { label: "Tickets", data: shown.map(([, n]) => n), backgroundColor: shown.map(colour) },
      ],
    },
    options: barOptions(true),
  });
}

function drawReasons(byReason) {
  const shown = Object.entries(byReason)
    .filter(([, count]) => count > 0)
    .sort((a, b) => b[1] - a[1]);
  emptyNote("chart-reason", shown.length ? "" : "No ticket was opened in this period.");
  draw("chart-reason", {
    type: "bar",
    data: {
      labels: shown.map(([reason]) => words(reason)),
      datasets: [
        { label: "Tickets", data: shown.map(([, n]) => n), backgroundColor: REASON_COLOUR },
      ],
    },
    options: barOptions(true),
  });
}

function drawResolution(byType) {
  const largest = Math.max(0, ...byType.map((each) => each.p90_seconds || 0));
  const unit = durationUnit(largest);
  const scaled = (seconds) => (seconds === null ? null : seconds / unit.seconds);
  const resolved = byType.some((each) => each.resolved > 0);
  emptyNote("chart-resolution", resolved ? "" : "No ticket opened in this period is resolved.");
  draw("chart-resolution", {
    type: "bar",
    data: {
      labels: byType.map((each) => `${words(each.type)} (${each.resolved})`),
      datasets: [
        {
          label: "Median",
          data: byType.map((each) => scaled(each.median_seconds)),
          backgroundColor: MEDIAN_COLOUR,
        },
        {
          label: "90th percentile",
          data: byType.map((each) => scaled(each.p90_seconds)),
          backgroundColor: P90_COLOUR,
        },
      ],
    },
    options: {
      maintainAspectRatio: false,
      animation: false,
      plugins: {
        legend: { position: "bottom", labels: { boxWidth: 12 } },
        tooltip: {
          callbacks: {
            label: (item) => {
              const type = byType[item.dataIndex];
              const seconds = item.datasetIndex ? type.p90_seconds : type.median_seconds;
              return `${item.dataset.label}: ${duration(seconds)}`;
            },
          },
        },
      },
      scales: { y: { beginAtZero: true, title: { display: true, text: unit.name } } },
    },
  });
}

function drawRefunds(refunded) {
  const holder = $("refund-charts");
  for (const [id, chart] of charts) {
    if (id.startsWith("chart-refund-")) {
      chart.destroy();
      charts.delete(id);
    }
  }
  holder.replaceChildren();
  $("no-refunds").hidden = refunded.currencies.length > 0;
  const labels = refunded.days.map(dayLabel);
  for (const each of refunded.currencies) {
    const scale = 10 ** each.exponent;
    const title = document.createElement("p");
    title.className = "currency-label";
    title.textContent = `${money(each.total, each.currency, each.exponent)} in all`;
    const box = document.createElement("div");
    box.className = "chart currency";
    const canvas = document.createElement("canvas");
    canvas.id = `chart-refund-${each.currency}`;
    canvas.setAttribute("role", "img");
    canvas.setAttribute("aria-label", `Refunded per day in ${each.currency}`);
    box.appendChild(canvas);
    holder.append(title, box);
    draw(canvas.id, {
      type: "bar",
      data: {
        labels,
        // Heights only: every figure shown in words comes from the integer minor units.
        datasets: [
          {
            label: each.currency,
            data: each.daily.map((minor) => minor / scale),
            backgroundColor: REFUND_COLOUR,
          },
        ],
      },
      options: {
        maintainAspectRatio: false,
        animation: false,
        plugins: {
          legend: { display: false },
          tooltip: {
            callbacks: {
              label: (item) => money(each.daily[item.dataIndex], each.currency, each.exponent),
            },
          },
        },
        scales: {
          x: { grid: { display: false }, ticks: { autoSkip: true, maxRotation: 0 } },
          y: {
            beginAtZero: true,
            ticks: {
              maxTicksLimit: 3,
              callback: (value) =>
                Number(value).toLocaleString("en", { maximumFractionDigits: each.exponent }),
            },
          },
        },
      },
    });
  }
}

function renderDue(deadlines, now) {
  const body = $("due").tBodies[0];
  body.replaceChildren();
  for (const due of deadlines.first) {
    const row = document.createElement("tr");
    const cells = [
      due.ticket_no,
      due.merchant_id,
      words(due.status),
      due.next_actor ? words(due.next_actor) : "—",
      dueText(due.deadline_at, now),
      due.on_timeout || "—",
    ];
    cells.forEach((text, index) => {
      const cell = document.createElement("td");
      cell.textContent = text;
      if (index === 4) cell.className = "when";
      row.appendChild(cell);
    });
    body.appendChild(row);
  }
  $("due").hidden = deadlines.first.length === 0;
  $("no-due").hidden = deadlines.count > 0;
  const more = deadlines.count - deadlines.first.length;
  $("more-due").hidden = more <= 0;
  $("more-due").textContent = `and ${more} more.`;
}

function onSaveKey(event) {
  event.preventDefault();
  const key = $("api-key").value.trim();
  if (!key) return;
  api.save(key);
  viewer = null;
  $("api-key").value = "";
  showProblem("");
  ready();
}

document.addEventListener("DOMContentLoaded", () => {
  window.Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  window.Chart.defaults.color = "#5b6270";
  initialFilters();
  $("key-form").addEventListener("submit", onSaveKey);
  $("filters").addEventListener("submit", (event) => {
    event.preventDefault();
    load();
  });
  $("forget-key").addEventListener("click", () => {
    api.forget();
    viewer = null;
    askForKey();
  });
  if (api.key()) ready();
  else askForKey();
});
