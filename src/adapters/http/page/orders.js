// The signed-in customer's recent orders, newest first, with Pay and Cancel buttons for unpaid ones.
// The buttons only say what they are for (data-action); commands.js acts on a click, so that this table
// can be drawn by the refresh loop without depending on it.

import { $, clockTime, textCell } from "./dom.js";
import { describeItems } from "./products.js";
import { paymentsToken, signedInToken } from "./session.js";

export function showOrders(orders) {
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
    if (paymentsToken()) {
      actions.append(actionButton("Pay", "pay", "pay"));
    }
    actions.append(actionButton("Cancel", "cancel secondary", "cancel"));
  }
  row.append(statusCell, actions);
  return row;
}

function actionButton(label, className, action) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = className;
  button.textContent = label;
  button.dataset.action = action;
  return button;
}

// Order ids are long (32 hex digits): the first few tell the recent ones apart; the cell's title has it all.
function shortId(id) {
  return id.length > 12 ? `${id.slice(0, 8)}…` : id;
}
