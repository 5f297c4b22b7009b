// What the page asks the Order Service to do: place an order (the form under the products), pay or cancel
// one (the buttons in the orders' table). Each says how it went in a result box, then refreshes the tables.

import { call } from "./api.js";
import { $, report } from "./dom.js";
import { describeItems, MAX_QUANTITY, productName } from "./products.js";
import { refresh } from "./refresh.js";
import { paymentsToken, signedInToken } from "./session.js";

export async function placeOrder(event) {
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
    const left = item.in_stock === 0 ? "none in stock" : `only ${item.in_stock} in stock`;
    const why = item.reason === "unknown_product" ? "no such product" : left;
    return `${productName(item.product_id)}: ${item.quantity} asked, ${why}`;
  });
}

// Each order's button: where it posts, and whose token it sends. Pay acts as the payment provider; a
// customer cancels their own order.
const ORDER_ACTIONS = {
  pay: { path: "/orders/paid", token: paymentsToken },
  cancel: { path: "/orders/cancel", token: signedInToken },
};

// A click anywhere in the orders' table: only its Pay and Cancel buttons do something.
export async function orderAction(event) {
  const button = event.target.closest("button[data-action]");
  if (button === null) {
    return;
  }
  const { path, token } = ORDER_ACTIONS[button.dataset.action];
  button.disabled = true;
  try {
    const answer = await call("POST", path, { order_id: button.closest("tr").dataset.orderId }, token());
    report("#action-result", "ok", `Order ${answer.order_id} is ${answer.status}.`);
  } catch (error) {
    if (!error.signedOut) {
      report("#action-result", "error", error.message);
    }
  }
  await refresh();
}
