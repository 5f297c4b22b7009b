// The Order Service's demo page: products with live stock, an order form, the signed-in customer's orders.
//
// Every ~2 s it reads GET /catalog (the Product Service's products, through the Order Service) and, signed
// in, GET /orders?sort=newest, and updates the tables in place, so a quantity being typed is kept. Data goes
// into the DOM as text only (textContent), never as HTML: product names are whatever a client PUT.
//
// Signing in is holding a bearer token: pasted, or from the demo sign-in (POST /demo/sign-in, which exists
// only under `make run`), kept in sessionStorage, so for this tab only. Every request sends it. The page
// reads the token's payload only to say who is signed in; the services verify it, and a 401 signs out.
"use strict";

const REFRESH_MS = 2000;
const REQUEST_TIMEOUT_MS = 5000; // a hung service must not stall the refresh loop
const RECENT_ORDERS = 10;
const MAX_QUANTITY = 10000;
const TOKEN_KEY = "ordering.token";
// The demo sign-in's second token, with the role payments: Pay acts as the payment provider with it.
const PAYMENTS_TOKEN_KEY = "ordering.paymentsToken";

const $ = (selector) => document.querySelector(selector);
const productNames = new Map(); // product_id -> name, for the orders' item lists

// -- talking to the Order Service --------------------------------------------------------------------------

// What went wrong with one request, in words for a person; `unreachable` when no answer came at all,
// `signedOut` when the services refused the token (the page has signed out and said so).
class ServiceError extends Error {
  constructor(message, { unreachable = false, problem = null, status = 0, signedOut = false } = {}) {
    super(message);
    this.unreachable = unreachable;
    this.problem = problem;
    this.status = status;
    this.signedOut = signedOut;
  }
}

// `token`: whose request it is; by default the signed-in customer's, none when signed out.
async function call(method, path, body, token = signedInToken()) {
  const options = { method, headers: { Accept: "application/json" } };
  if (token) {
    options.headers.Authorization = `Bearer ${token}`;
  }
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  options.signal = AbortSignal.timeout(REQUEST_TIMEOUT_MS);
  let response;
  try {
    response = await fetch(path, options);
  } catch (error) {
    const why = error.name === "TimeoutError" ? "no answer in time" : "no connection";
    throw new ServiceError(`The Order Service cannot be reached (${why}).`, { unreachable: true });
  }
  const answer = await readJson(response);
  if (response.ok) {
    return answer;
  }
  const problem = answer && typeof answer === "object" ? answer : null;
  if (response.status === 401 && token) {
    signOut("Signed out: the services did not accept the token (it may have expired). Sign in again.");
    throw new ServiceError("Signed out.", { problem, status: 401, signedOut: true });
  }
  const detail = problem && problem.detail ? problem.detail : response.statusText;
  const title = problem && problem.title ? problem.title : "Refused";
  throw new ServiceError(`${title}: ${detail}`, { problem, status: response.status });
}

async function readJson(response) {
  try {
    return await response.json();
  } catch {
    return null;
  }
}

// -- who is signed in ----------------------------------------------------------------------------------------

function signedInToken() {
  return sessionStorage.getItem(TOKEN_KEY);
}

// The token Pay sends: the demo sign-in's payments token, or the signed-in one if it says it may record
// payments. None: no Pay buttons (the services would refuse a customer's payment with 403 anyway).
function paymentsToken() {
  const held = sessionStorage.getItem(PAYMENTS_TOKEN_KEY);
  if (held) {
    return held;
  }
  const roles = rolesOf(claims(signedInToken()));
  return roles.includes("payments") || roles.includes("admin") ? signedInToken() : null;
}

function signIn(token, payments, message) {
  sessionStorage.setItem(TOKEN_KEY, token);
  if (payments) {
    sessionStorage.setItem(PAYMENTS_TOKEN_KEY, payments);
  } else {
    sessionStorage.removeItem(PAYMENTS_TOKEN_KEY);
  }
  showSession(message);
  refresh();
}

function signOut(message = "") {
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(PAYMENTS_TOKEN_KEY);
  showOrders([]);
  $("#order-result").hidden = true; // what the last customer did is not the next one's business
  $("#action-result").hidden = true;
  showSession(message);
}

function showSession(message = "") {
  const token = signedInToken();
  $("#sign-in").hidden = token !== null;
  $("#signed-in").hidden = token === null;
  $("#order-fields").disabled = token === null;
  $("#order-hint").hidden = token !== null;
  $("#orders-signed-out").hidden = token !== null;
  $("#session-message").textContent = message;
  if (token !== null) {
    const payload = claims(token);
    $("#who").textContent = payload && typeof payload.sub === "string" ? payload.sub : "(a token this page cannot read)";
    $("#who-details").textContent = describeSession(payload);
  }
}

function describeSession(payload) {
  const roles = rolesOf(payload);
  const parts = [roles.length > 0 ? `roles: ${roles.join(", ")}` : "a customer"];
  if (payload && Number.isFinite(payload.exp)) {
    parts.push(`until ${clockTime(new Date(payload.exp * 1000))}`);
  }
  if (sessionStorage.getItem(PAYMENTS_TOKEN_KEY)) {
    parts.push("Pay acts as the demo payment provider");
  }
  return `(${parts.join("; ")})`;
}

// The token's payload, for display only: nothing is decided by it (the signature is not, and cannot be,
// checked here). null when it is not a JWT this page can read.
function claims(token) {
  try {
    const payload = token.split(".")[1].replaceAll("-", "+").replaceAll("_", "/");
    const bytes = Uint8Array.from(atob(payload), (c) => c.charCodeAt(0));
    const decoded = JSON.parse(new TextDecoder().decode(bytes));
    return decoded && typeof decoded === "object" ? decoded : null;
  } catch {
    return null;
  }
}

function rolesOf(payload) {
  const roles = payload ? payload.roles : undefined;
  if (typeof roles === "string") {
    return roles.split(" ").filter(Boolean);
  }
  return Array.isArray(roles) ? roles.filter((role) => typeof role === "string") : [];
}

function pasteSignIn(event) {
  event.preventDefault();
  const token = $("#token").value.trim();
  if (token === "" || /\s/.test(token)) {
    showSession(token === "" ? "Paste a token first." : "That is not one token: paste only the token's own line.");
    return;
  }
  $("#token").value = "";
  signIn(token, null, "");
}

async function demoSignIn() {
  const button = $("#demo-sign-in");
  button.disabled = true;
  try {
    const answer = await call("POST", "/demo/sign-in", undefined, null);
    signIn(answer.token, answer.payments_token, "Each demo sign-in is a new customer, with no orders yet.");
  } catch (error) {
    if (error.status === 404) {
      button.hidden = true; // it does not exist here: no point offering it again
      showSession("Demo sign-in is off on this service (make run switches it on): paste a token instead.");
    } else {
      showSession(error.message);
    }
  } finally {
    button.disabled = false;
  }
}

// -- refreshing ----------------------------------------------------------------------------------------------

async function refresh() {
  const token = signedInToken();
  const [catalog, orders] = await Promise.allSettled([
    call("GET", "/catalog"),
    token ? call("GET", `/orders?sort=newest&limit=${RECENT_ORDERS}`) : Promise.resolve(null),
  ]);
  if (catalog.status === "fulfilled") {
    showProducts(catalog.value);
  }
  if (orders.status === "fulfilled" && signedInToken() === token) { // not someone else's, signed in since
    showOrders(orders.value ? orders.value.orders : []);
  }
  const failures = [catalog, orders]
    .filter((r) => r.status === "rejected" && !r.reason.signedOut)
    .map((r) => r.reason);
  showBanner(failures);
  if (failures.length === 0) {
    $("#refreshed").textContent = `Last refreshed at ${clockTime(new Date())}; every ${REFRESH_MS / 1000} s.`;
    $("#refreshed").dataset.refreshedAt = new Date().toISOString();
  }
}

async function refreshForever() {
  try {
    await refresh();
  } catch (error) {
    // A bug in rendering must not stop the loop: say so and try again next time.
    showBanner([new ServiceError(`The page failed to update: ${error.message}`)]);
  }
  setTimeout(refreshForever, REFRESH_MS);
}

function showBanner(failures) {
  const banner = $("#banner");
  if (failures.length === 0) {
    banner.hidden = true;
    banner.textContent = "";
    return;
  }
  // One unreachable service explains every failure: say it once.
  const unreachable = failures.find((f) => f.unreachable);
  const messages = unreachable ? [unreachable.message] : [...new Set(failures.map((f) => f.message))];
  const since = $("#refreshed").dataset.refreshedAt;
  const shown = since ? ` Showing what was read at ${clockTime(new Date(since))}.` : "";
  banner.textContent = `${messages.join(" ")}${shown} Retrying every ${REFRESH_MS / 1000} s…`;
  banner.hidden = false;
}

// -- products and the order form ---------------------------------------------------------------------------

function showProducts(products) {
  const body = $("#products tbody");
  const rows = new Map([...body.rows].map((row) => [row.dataset.productId, row]));
  productNames.clear();
  for (const product of products) {
    productNames.set(product.product_id, product.name);
    let row = rows.get(product.product_id);
    rows.delete(product.product_id);
    if (!row) {
      row = productRow(product.product_id);
    }
    body.appendChild(row); // keeps the rows in the catalog's order; an existing row keeps its input
    cell(row, "name").textContent = product.name;
    cell(row, "price").textContent = product.price;
    const stock = cell(row, "stock");
    stock.textContent = String(product.stocks);
    stock.classList.toggle("empty", product.stocks === 0);
    row.querySelector("input").setAttribute("aria-label", `Quantity of ${product.name}`);
  }
  for (const gone of rows.values()) {
    gone.remove();
  }
  $("#no-products").hidden = products.length > 0;
}

function productRow(productId) {
  const row = document.createElement("tr");
  row.dataset.productId = productId;
  row.append(
    textCell(productId, "id"),
    textCell("", "name"),
    textCell("", "price number"),
    textCell("", "stock number"),
  );
  const input = document.createElement("input");
  Object.assign(input, { type: "number", min: "0", max: String(MAX_QUANTITY), step: "1", value: "" });
  input.name = "quantity";
  input.placeholder = "0";
  input.dataset.productId = productId;
  const quantity = document.createElement("td");
  quantity.className = "number";
  quantity.append(input);
  row.append(quantity);
  return row;
}

async function placeOrder(event) {
  event.preventDefault();
  const { items, invalid } = chosenItems();
  if (invalid.length > 0) {
    report("#order-result", "error", `Quantities must be whole numbers from 0 to ${MAX_QUANTITY}: ${invalid.join(", ")}.`);
    return;
  }
  if (items.length === 0) {
    report("#order-result", "error", "Choose a quantity for at least one product.");
    return;
  }
  const button = $("#place-order");
  button.disabled = true;
  try {
    const order = await call("POST", "/orders/order", { items });
    report("#order-result", "ok", `Order ${order.order_id} placed: ${describeItems(order.items)}, total ${order.total}.`);
    $("#order-result").dataset.orderId = order.order_id;
    for (const input of document.querySelectorAll("#products input")) {
      input.value = "";
    }
  } catch (error) {
    delete $("#order-result").dataset.orderId;
    if (!error.signedOut) {
      report("#order-result", "error", error.message, unavailableItems(error.problem));
    }
  } finally {
    button.disabled = false;
  }
  await refresh();
}

function chosenItems() {
  const items = [];
  const invalid = [];
  for (const input of document.querySelectorAll("#products input")) {
    const text = input.value.trim();
    if (input.validity.badInput) {
      invalid.push(input.dataset.productId); // not a number at all: the input's value reads as ""
      continue;
    }
    if (text === "") {
      continue;
    }
    const quantity = Number(text);
    if (!Number.isInteger(quantity) || quantity < 0 || quantity > MAX_QUANTITY) {
      invalid.push(input.dataset.productId);
    } else if (quantity > 0) {
      items.push({ product_id: input.dataset.productId, quantity });
    }
  }
  return { items, invalid };
}

// The 409 /problems/items-unavailable lists each item that cannot be served and why.
function unavailableItems(problem) {
  if (!problem || !Array.isArray(problem.items)) {
    return [];
  }
  return problem.items.map((item) => {
    const name = productNames.get(item.product_id) || item.product_id;
    const left = item.in_stock === 0 ? "none in stock" : `only ${item.in_stock} in stock`;
    const why = item.reason === "unknown_product" ? "no such product" : left;
    return `${name}: ${item.quantity} asked, ${why}`;
  });
}

// -- recent orders -------------------------------------------------------------------------------------------

function showOrders(orders) {
  const body = $("#orders tbody");
  body.replaceChildren(...orders.map(orderRow));
  $("#no-orders").hidden = orders.length > 0 || signedInToken() === null;
}

function orderRow(order) {
  const row = document.createElement("tr");
  row.dataset.orderId = order.order_id;
  const id = textCell(shortId(order.order_id), "id");
  id.title = order.order_id;
  row.append(
    id,
    textCell(clockTime(new Date(order.placed_at)), "placed"),
    textCell(describeItems(order.items), "items"),
    textCell(order.total, "total number"),
  );
  const status = document.createElement("span");
  status.className = `status status-${order.status}`;
  status.textContent = order.status;
  const statusCell = document.createElement("td");
  statusCell.append(status);
  if (order.reason) {
    const reason = document.createElement("span");
    reason.className = "reason muted";
    reason.textContent = ` (${order.reason.replaceAll("_", " ")})`;
    statusCell.append(reason);
  }
  const actions = document.createElement("td");
  actions.className = "actions";
  if (order.status === "unpaid") {
    const payer = paymentsToken();
    if (payer) {
      actions.append(actionButton("Pay", "pay", "/orders/paid", order.order_id, payer));
    }
    actions.append(actionButton("Cancel", "cancel secondary", "/orders/cancel", order.order_id, signedInToken()));
  }
  row.append(statusCell, actions);
  return row;
}

function actionButton(label, className, path, orderId, token) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = className;
  button.textContent = label;
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      const answer = await call("POST", path, { order_id: orderId }, token);
      report("#action-result", "ok", `Order ${answer.order_id} is ${answer.status}.`);
    } catch (error) {
      if (!error.signedOut) {
        report("#action-result", "error", error.message);
      }
    }
    await refresh();
  });
  return button;
}

// -- small helpers -------------------------------------------------------------------------------------------

function describeItems(items) {
  return items.map((item) => `${item.quantity} × ${productNames.get(item.product_id) || item.product_id}`).join(", ");
}

// Order ids are long (32 hex digits): the first few tell the recent ones apart; the cell's title has it all.
function shortId(id) {
  return id.length > 12 ? `${id.slice(0, 8)}…` : id;
}

function report(selector, kind, message, details = []) {
  const box = $(selector);
  box.className = `result ${kind}`;
  const text = document.createElement("p");
  text.textContent = message;
  box.replaceChildren(text);
  if (details.length > 0) {
    const list = document.createElement("ul");
    list.append(...details.map((detail) => Object.assign(document.createElement("li"), { textContent: detail })));
    box.append(list);
  }
  box.hidden = false;
}

function textCell(text, className) {
  const td = document.createElement("td");
  td.className = className;
  td.textContent = text;
  return td;
}

function cell(row, name) {
  return row.querySelector(`td.${name}`);
}

function clockTime(date) {
  return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

document.addEventListener("DOMContentLoaded", () => {
  $("#order-form").addEventListener("submit", placeOrder);
  $("#sign-in").addEventListener("submit", pasteSignIn);
  $("#demo-sign-in").addEventListener("click", demoSignIn);
  $("#sign-out").addEventListener("click", () => signOut("Signed out."));
  showSession();
  refreshForever();
});
