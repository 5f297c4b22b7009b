// Keeping the page current: every ~2 s it reads GET /catalog (the Product Service's products, through the
// Order Service) and, signed in, GET /orders?sort=newest, and updates the tables in place, so a quantity
// being typed is kept. A banner says what could not be read, and goes when it can be again.

import { call, ServiceError } from "./api.js";
import { $, clockTime } from "./dom.js";
import { showOrders } from "./orders.js";
import { showProducts } from "./products.js";
import { signedInToken } from "./session.js";

const REFRESH_MS = 2000;
const RECENT_ORDERS = 10;

export async function refresh() {
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

export async function refreshForever() {
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
