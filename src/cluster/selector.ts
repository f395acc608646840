// Calico label-selector expressions (the `nodeSelector` / `peerSelector` syntax of Calico v3
// BGPPeer and IPPool resources): a tokenizer, a recursive-descent parser with positioned
// errors, and an evaluator over a label map. No RFC; the grammar follows Calico's
// libcalico-go selector package:
//
//   expr    := and ('||' and)*
//   and     := unary ('&&' unary)*
//   unary   := '!' unary | '(' expr ')' | 'all()' | 'global()' | 'has(' LABEL ')' | compare
//   compare := LABEL ('==' | '!=') STRING
//            | LABEL ('in' | 'not in') '{' [STRING (',' STRING)*] '}'
//            | LABEL ('contains' | 'starts with' | 'ends with') STRING
//
// An empty (or all-blank) selector is `all()`. STRING is single- or double-quoted.

import { SelectorError } from './errors';

export type Selector =
  | { op: 'all' }
  | { op: 'has'; label: string }
  | { op: 'eq' | 'ne' | 'contains' | 'startsWith' | 'endsWith'; label: string; value: string }
  | { op: 'in' | 'notIn'; label: string; values: string[] }
  | { op: 'not'; arg: Selector }
  | { op: 'and' | 'or'; args: Selector[] };

type TokenKind = 'label' | 'string' | 'op' | 'lparen' | 'rparen' | 'lbrace' | 'rbrace' | 'comma' | 'end';
interface Token { kind: TokenKind; text: string; pos: number }

// A label key: optional DNS-subdomain prefix with '/', then name chars. Calico allows
// [a-zA-Z0-9_./-] (and a single '/').
const LABEL_CHAR = /[A-Za-z0-9_.\-/]/;

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i];
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') { i++; continue; }
    const two = src.slice(i, i + 2);
    if (two === '==' || two === '!=' || two === '&&' || two === '||') {
      out.push({ kind: 'op', text: two, pos: i }); i += 2; continue;
    }
    if (c === '!') { out.push({ kind: 'op', text: '!', pos: i }); i++; continue; }
    if (c === '(') { out.push({ kind: 'lparen', text: c, pos: i }); i++; continue; }
    if (c === ')') { out.push({ kind: 'rparen', text: c, pos: i }); i++; continue; }
    if (c === '{') { out.push({ kind: 'lbrace', text: c, pos: i }); i++; continue; }
    if (c === '}') { out.push({ kind: 'rbrace', text: c, pos: i }); i++; continue; }
    if (c === ',') { out.push({ kind: 'comma', text: c, pos: i }); i++; continue; }
    if (c === "'" || c === '"') {
      const end = src.indexOf(c, i + 1);
      if (end < 0) throw new SelectorError(src, i, 'unterminated string');
      out.push({ kind: 'string', text: src.slice(i + 1, end), pos: i });
      i = end + 1;
      continue;
    }
    if (LABEL_CHAR.test(c)) {
      let j = i;
      while (j < src.length && LABEL_CHAR.test(src[j])) j++;
      out.push({ kind: 'label', text: src.slice(i, j), pos: i });
      i = j;
      continue;
    }
    throw new SelectorError(src, i, `unexpected character '${c}'`);
  }
  out.push({ kind: 'end', text: '', pos: src.length });
  return out;
}

const LABEL_RE = /^([A-Za-z0-9]([A-Za-z0-9.\-]*[A-Za-z0-9])?\/)?[A-Za-z0-9]([A-Za-z0-9_.\-]*[A-Za-z0-9])?$/;

class Parser {
  private i = 0;
  constructor(private readonly src: string, private readonly toks: Token[]) {}

  private peek(offset = 0): Token { return this.toks[Math.min(this.i + offset, this.toks.length - 1)]; }
  private next(): Token { return this.toks[this.i++]; }
  private fail(t: Token, reason: string): never { throw new SelectorError(this.src, t.pos, reason); }
  private describe(t: Token): string { return t.kind === 'end' ? 'end of selector' : `'${t.text}'`; }

  parse(): Selector {
    if (this.peek().kind === 'end') return { op: 'all' };
    const e = this.orExpr();
    const t = this.peek();
    if (t.kind !== 'end') this.fail(t, `expected '&&', '||' or end of selector, found ${this.describe(t)}`);
    return e;
  }

  private orExpr(): Selector {
    const args = [this.andExpr()];
    while (this.peek().kind === 'op' && this.peek().text === '||') { this.next(); args.push(this.andExpr()); }
    return args.length === 1 ? args[0] : { op: 'or', args };
  }

  private andExpr(): Selector {
    const args = [this.unary()];
    while (this.peek().kind === 'op' && this.peek().text === '&&') { this.next(); args.push(this.unary()); }
    return args.length === 1 ? args[0] : { op: 'and', args };
  }

  private unary(): Selector {
    const t = this.peek();
    if (t.kind === 'op' && t.text === '!') { this.next(); return { op: 'not', arg: this.unary() }; }
    if (t.kind === 'lparen') {
      this.next();
      const e = this.orExpr();
      const close = this.next();
      if (close.kind !== 'rparen') this.fail(close, `expected ')' to close '(' at position ${t.pos}, found ${this.describe(close)}`);
      return e;
    }
    if (t.kind !== 'label') this.fail(t, `expected a label, 'all()', 'has(...)', '!' or '(', found ${this.describe(t)}`);
    // Function forms: all(), global(), has(label).
    if (this.peek(1).kind === 'lparen' && (t.text === 'all' || t.text === 'global' || t.text === 'has')) {
      this.next(); this.next();
      if (t.text === 'has') {
        const label = this.label();
        const close = this.next();
        if (close.kind !== 'rparen') this.fail(close, `expected ')' after has(${label}, found ${this.describe(close)}`);
        return { op: 'has', label };
      }
      const close = this.next();
      if (close.kind !== 'rparen') this.fail(close, `${t.text}() takes no arguments, found ${this.describe(close)}`);
      return { op: 'all' };
    }
    const label = this.label();
    const op = this.next();
    if (op.kind === 'op' && (op.text === '==' || op.text === '!=')) {
      return { op: op.text === '==' ? 'eq' : 'ne', label, value: this.string(`after '${op.text}'`) };
    }
    if (op.kind === 'label') {
      if (op.text === 'in') return { op: 'in', label, values: this.set() };
      if (op.text === 'not') {
        const inTok = this.next();
        if (inTok.kind !== 'label' || inTok.text !== 'in') this.fail(inTok, `expected 'in' after 'not', found ${this.describe(inTok)}`);
        return { op: 'notIn', label, values: this.set() };
      }
      if (op.text === 'contains') return { op: 'contains', label, value: this.string("after 'contains'") };
      if (op.text === 'starts' || op.text === 'ends') {
        const w = this.next();
        if (w.kind !== 'label' || w.text !== 'with') this.fail(w, `expected 'with' after '${op.text}', found ${this.describe(w)}`);
        return { op: op.text === 'starts' ? 'startsWith' : 'endsWith', label, value: this.string(`after '${op.text} with'`) };
      }
    }
    return this.fail(op, `expected an operator (==, !=, in, not in, contains, starts with, ends with) after label '${label}', found ${this.describe(op)}`);
  }

  private label(): string {
    const t = this.next();
    if (t.kind !== 'label') this.fail(t, `expected a label name, found ${this.describe(t)}`);
    if (!LABEL_RE.test(t.text)) this.fail(t, `'${t.text}' is not a valid label name`);
    return t.text;
  }

  private string(context: string): string {
    const t = this.next();
    if (t.kind !== 'string') this.fail(t, `expected a quoted string ${context}, found ${this.describe(t)}`);
    return t.text;
  }

  private set(): string[] {
    const open = this.next();
    if (open.kind !== 'lbrace') this.fail(open, `expected '{' to start a set, found ${this.describe(open)}`);
    const values: string[] = [];
    if (this.peek().kind === 'rbrace') { this.next(); return values; }
    for (;;) {
      values.push(this.string('in set'));
      const t = this.next();
      if (t.kind === 'rbrace') return values;
      if (t.kind !== 'comma') this.fail(t, `expected ',' or '}' in set, found ${this.describe(t)}`);
    }
  }
}

const cache = new Map<string, Selector>();

/** Parses a selector; throws SelectorError naming the position of the first fault. */
export function parseSelector(text: string): Selector {
  const hit = cache.get(text);
  if (hit) return hit;
  const sel = new Parser(text, tokenize(text)).parse();
  if (cache.size > 10000) cache.clear();
  cache.set(text, sel);
  return sel;
}

/** Evaluates a parsed selector against a label map. */
export function matches(sel: Selector, labels: Readonly<Record<string, string>>): boolean {
  switch (sel.op) {
    case 'all': return true;
    case 'has': return Object.prototype.hasOwnProperty.call(labels, sel.label);
    case 'eq': return labels[sel.label] === sel.value;
    // Calico: `a != 'x'` is true when the label is absent.
    case 'ne': return labels[sel.label] !== sel.value;
    case 'contains': return has(labels, sel.label) && labels[sel.label].includes(sel.value);
    case 'startsWith': return has(labels, sel.label) && labels[sel.label].startsWith(sel.value);
    case 'endsWith': return has(labels, sel.label) && labels[sel.label].endsWith(sel.value);
    case 'in': return has(labels, sel.label) && sel.values.includes(labels[sel.label]);
    // Calico: `a not in {...}` is true when the label is absent.
    case 'notIn': return !has(labels, sel.label) || !sel.values.includes(labels[sel.label]);
    case 'not': return !matches(sel.arg, labels);
    case 'and': return sel.args.every((a) => matches(a, labels));
    case 'or': return sel.args.some((a) => matches(a, labels));
  }
}

function has(labels: Readonly<Record<string, string>>, k: string): boolean {
  return Object.prototype.hasOwnProperty.call(labels, k);
}

/** Parses and evaluates in one step. */
export function selectorMatches(text: string, labels: Readonly<Record<string, string>>): boolean {
  return matches(parseSelector(text), labels);
}

/** Canonical text of a parsed selector (used in status output and tests). */
export function formatSelector(sel: Selector): string {
  const q = (s: string) => `'${s}'`;
  switch (sel.op) {
    case 'all': return 'all()';
    case 'has': return `has(${sel.label})`;
    case 'eq': return `${sel.label} == ${q(sel.value)}`;
    case 'ne': return `${sel.label} != ${q(sel.value)}`;
    case 'contains': return `${sel.label} contains ${q(sel.value)}`;
    case 'startsWith': return `${sel.label} starts with ${q(sel.value)}`;
    case 'endsWith': return `${sel.label} ends with ${q(sel.value)}`;
    case 'in': return `${sel.label} in {${sel.values.map(q).join(', ')}}`;
    case 'notIn': return `${sel.label} not in {${sel.values.map(q).join(', ')}}`;
    case 'not': return `!${wrap(sel.arg)}`;
    case 'and': return sel.args.map((a) => (a.op === 'or' ? `(${formatSelector(a)})` : formatSelector(a))).join(' && ');
    case 'or': return sel.args.map(formatSelector).join(' || ');
  }
}

function wrap(s: Selector): string {
  return s.op === 'and' || s.op === 'or' ? `(${formatSelector(s)})` : formatSelector(s);
}
