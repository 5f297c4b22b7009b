// The Order Service's demo page: products with live stock, an order form, the signed-in customer's orders.
// This module wires the page's parts to the page; index.html loads it as an ES module, and it imports the
// rest, each a file of this folder (the Content-Security-Policy lets the page run only its own files):
//
//   api.js       every request to the Order Service, and what its refusals say
//   session.js   the tokens held for this tab
//   sign-in.js   the sign-in box
//   refresh.js   reading the products and orders every ~2 s, and the banner when that fails
//   products.js  the products table
//   orders.js    the orders table
//   commands.js  placing an order, paying and cancelling one
//   dom.js       small helpers for writing into the page, as text only

import { whenTokenRefused } from "./api.js";
import { orderAction, placeOrder } from "./commands.js";
import { $ } from "./dom.js";
import { refreshForever } from "./refresh.js";
import { demoSignIn, pasteSignIn, showSession, signOut } from "./sign-in.js";

// The services verify the token, not the page: a 401 to a request that sent one signs out, whichever
// request it was.
whenTokenRefused(() =>
  signOut("Signed out: the services did not accept the token (it may have expired). Sign in again."),
);

document.addEventListener("DOMContentLoaded", () => {
  $("#order-form").addEventListener("submit", placeOrder);
  $("#orders").addEventListener("click", orderAction);
  $("#sign-in").addEventListener("submit", pasteSignIn);
  $("#demo-sign-in").addEventListener("click", demoSignIn);
  $("#sign-out").addEventListener("click", () => signOut("Signed out."));
  showSession();
  refreshForever();
});
