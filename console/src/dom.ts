// Building the page: elements with text children only. Every value that came from a caller (logins,
// user agents, method names, audit fields) goes in as a text node, never as markup; no inline style or
// event-handler attribute is ever set (the Content-Security-Policy would refuse them anyway).
type Child = Node | string | number | null | undefined | false;
type Attributes = Record<string, string | number | boolean | undefined>;

function append(parent: Node, children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(typeof child === 'object' ? child : document.createTextNode(String(child)));
  }
}

function setAttributes(node: Element, attributes: Attributes): void {
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === false) continue;
    if (name === 'style' || name.toLowerCase().startsWith('on')) throw new Error(`attribute ${name} is not allowed`);
    node.setAttribute(name, value === true ? '' : String(value));
  }
}

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attributes: Attributes = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  setAttributes(node, attributes);
  append(node, children);
  return node;
}

const SVG = 'http://www.w3.org/2000/svg';

export function s(tag: string, attributes: Attributes = {}, ...children: Child[]): SVGElement {
  const node = document.createElementNS(SVG, tag) as SVGElement;
  setAttributes(node, attributes);
  append(node, children);
  return node;
}

/** Replaces what a node holds. */
export function fill(parent: Element, ...children: Child[]): void {
  parent.replaceChildren();
  append(parent, children);
}

export function button(text: string, onClick: () => void | Promise<void>, className = ''): HTMLButtonElement {
  const b = h('button', { type: 'button', class: className || undefined }, text);
  b.addEventListener('click', () => void onClick());
  return b;
}

/** A date-time as the console shows it: UTC, to the second. */
export const when = (iso: string | null | undefined): string => (iso ? iso.replace('T', ' ').replace(/\.\d+Z$|Z$/, ' UTC') : '');

/** A table: a header row and one row per item. */
export function table<T>(columns: [string, (item: T) => Child | Child[]][], items: T[], rowAttributes?: (item: T) => Attributes): HTMLTableElement {
  const head = h('tr', {}, ...columns.map(([name]) => h('th', {}, name)));
  const rows = items.map((item) => {
    const tr = h('tr', rowAttributes?.(item) ?? {});
    for (const [, cell] of columns) {
      const value = cell(item);
      const td = h('td', { class: 'wrap' });
      append(td, Array.isArray(value) ? value : [value]);
      tr.appendChild(td);
    }
    return tr;
  });
  return h('table', {}, h('thead', {}, head), h('tbody', {}, ...rows));
}

export const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
