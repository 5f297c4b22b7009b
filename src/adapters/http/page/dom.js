// Small helpers for writing into the page. Data goes into the DOM as text only (textContent), never as HTML:
// product names are whatever a client PUT.

export const $ = (selector) => document.querySelector(selector);

// Says how something went in one of the page's result boxes: a sentence, and a list under it if any.
export function report(selector, kind, message, details = []) {
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

export function textCell(text, className) {
  const td = document.createElement("td");
  td.className = className;
  td.textContent = text;
  return td;
}

export function cell(row, name) {
  return row.querySelector(`td.${name}`);
}

export function clockTime(date) {
  return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}
