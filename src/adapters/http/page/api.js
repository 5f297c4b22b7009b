// Talking to the Order Service: every request the page makes goes through `call`, which sends the signed-in
// customer's token and turns any failure into a `ServiceError` whose message a person can read.

import { signedInToken } from "./session.js";

const REQUEST_TIMEOUT_MS = 5000; // a hung service must not stall the refresh loop

// What went wrong with one request, in words for a person; `unreachable` when no answer came at all,
// `signedOut` when the services refused the token (the page has signed out and said so).
export class ServiceError extends Error {
  constructor(message, { unreachable = false, problem = null, status = 0, signedOut = false } = {}) {
    super(message);
    this.unreachable = unreachable;
    this.problem = problem;
    this.status = status;
    this.signedOut = signedOut;
  }
}

// What the page does when the services refuse the token it sent. Set by the page's wiring (app.js), not
// imported: signing out redraws the page, and the sign-in box itself calls this module.
let tokenRefused = () => {};

export function whenTokenRefused(handler) {
  tokenRefused = handler;
}

// `token`: whose request it is; by default the signed-in customer's, none when signed out.
export async function call(method, path, body, token = signedInToken()) {
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
    tokenRefused();
    throw new ServiceError("Signed out.", { problem, status: 401, signedOut: true });
  }
  throw new ServiceError(sentence(problem, response), { problem, status: response.status });
}

// What went wrong, said once, as the command line says it (src/entrypoints/cli/api.py, Problem.sentence):
// the problem's detail, which is about this request, else its title, which only names the kind of problem.
// Never both: a detail restates its title in other words, and "Some items cannot be served: 2 items cannot be
// served; nothing was ordered" says one thing twice. An answer that is no problem document has neither.
function sentence(problem, response) {
  const title = problem && typeof problem.title === "string" ? problem.title : "";
  const detail = problem && typeof problem.detail === "string" ? problem.detail.trim() : "";
  if (detail && detail.toLowerCase() !== title.trim().toLowerCase()) {
    return detail;
  }
  return title || `Refused: ${response.statusText}`;
}

async function readJson(response) {
  try {
    return await response.json();
  } catch {
    return null;
  }
}
