// The sign-in box: paste a token, or the demo sign-in (POST /demo/sign-in, which exists only under
// `make run`); who is signed in, and signing out. A 401 from the services signs out too (app.js wires it).

import { call } from "./api.js";
import { $, clockTime } from "./dom.js";
import { showOrders } from "./orders.js";
import { refresh } from "./refresh.js";
import { claims, forgetTokens, heldPaymentsToken, keepTokens, rolesOf, signedInToken } from "./session.js";

function signIn(token, payments, message) {
  keepTokens(token, payments);
  showSession(message);
  refresh();
}

export function signOut(message = "") {
  forgetTokens();
  showOrders([]);
  $("#order-result").hidden = true; // what the last customer did is not the next one's business
  $("#action-result").hidden = true;
  showSession(message);
}

export function showSession(message = "") {
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
  if (heldPaymentsToken()) {
    parts.push("Pay acts as the demo payment provider");
  }
  return `(${parts.join("; ")})`;
}

export function pasteSignIn(event) {
  event.preventDefault();
  const token = $("#token").value.trim();
  if (token === "" || /\s/.test(token)) {
    showSession(token === "" ? "Paste a token first." : "That is not one token: paste only the token's own line.");
    return;
  }
  $("#token").value = "";
  signIn(token, null, "");
}

export async function demoSignIn() {
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
