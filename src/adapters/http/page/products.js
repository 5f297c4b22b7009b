// The products table: each product with its price, its stock now, and an input for the quantity to order.
// Rows are updated in place, so a quantity being typed survives a refresh.

import { $, cell, textCell } from "./dom.js";

export const MAX_QUANTITY = 10000;

const productNames = new Map(); // product_id -> name, for the orders' item lists

// A product's name as last read, or its id when the catalog did not list it.
export function productName(productId) {
  return productNames.get(productId) || productId;
}

export function describeItems(items) {
  return items.map((item) => `${item.quantity} × ${productName(item.product_id)}`).join(", ");
}

export function showProducts(products) {
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
