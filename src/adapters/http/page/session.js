// Who is signed in: a bearer token, pasted or from the demo sign-in, kept in sessionStorage, so for this tab
// only. The page reads the token's payload only to say who is signed in; the services verify it.

const TOKEN_KEY = "ordering.token";
// The demo sign-in's second token, with the role payments: Pay acts as the payment provider with it.
const PAYMENTS_TOKEN_KEY = "ordering.paymentsToken";

export function signedInToken() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function heldPaymentsToken() {
  return sessionStorage.getItem(PAYMENTS_TOKEN_KEY);
}

// The token Pay sends: the demo sign-in's payments token, or the signed-in one if it says it may record
// payments. None: no Pay buttons (the services would refuse a customer's payment with 403 anyway).
export function paymentsToken() {
  const held = heldPaymentsToken();
  if (held) {
    return held;
  }
  const roles = rolesOf(claims(signedInToken()));
  return roles.includes("payments") || roles.includes("admin") ? signedInToken() : null;
}

export function keepTokens(token, payments) {
  sessionStorage.setItem(TOKEN_KEY, token);
  if (payments) {
    sessionStorage.setItem(PAYMENTS_TOKEN_KEY, payments);
  } else {
    sessionStorage.removeItem(PAYMENTS_TOKEN_KEY);
  }
}

export function forgetTokens() {
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(PAYMENTS_TOKEN_KEY);
}

// The token's payload, for display only: nothing is decided by it (the signature is not, and cannot be,
// checked here). null when it is not a JWT this page can read.
export function claims(token) {
  try {
    const payload = token.split(".")[1].replaceAll("-", "+").replaceAll("_", "/");
    const bytes = Uint8Array.from(atob(payload), (c) => c.charCodeAt(0));
    const decoded = JSON.parse(new TextDecoder().decode(bytes));
    return decoded && typeof decoded === "object" ? decoded : null;
  } catch {
    return null;
  }
}

export function rolesOf(payload) {
  const roles = payload ? payload.roles : undefined;
  if (typeof roles === "string") {
    return roles.split(" ").filter(Boolean);
  }
  return Array.isArray(roles) ? roles.filter((role) => typeof role === "string") : [];
}
