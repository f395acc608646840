// How the demo talks: step lines with timings while it builds, section headings, the ✓/✗ ping
// grid, and the route table of every node. Colour only on a terminal (and not with NO_COLOR);
// plain text otherwise, so CI logs and pipes read cleanly. The grid and table builders are pure.
// No RFC.

export interface Writer { write(text: string): unknown; isTTY?: boolean }

const CODES = { bold: '1', dim: '2', red: '31', green: '32', yellow: '33', cyan: '36' } as const;
type Style = keyof typeof CODES;

export class Narrator {
  readonly color: boolean;
  private readonly started = Date.now();
  private stepsStopped = false;

  constructor(private readonly out: Writer, color?: boolean) {
    this.color = color ?? (Boolean(out.isTTY) && !process.env.NO_COLOR && process.env.TERM !== 'dumb');
  }

  paint(style: Style, text: string): string {
    return this.color ? `\x1b[${CODES[style]}m${text}\x1b[0m` : text;
  }

  private clock(): string {
    return this.paint('dim', `[${((Date.now() - this.started) / 1000).toFixed(1).padStart(5)}s]`);
  }

  line(text = ''): void {
    this.out.write(`${text}\n`);
  }

  /** A heading for one part of the story. */
  section(title: string, subtitle?: string): void {
    this.line();
    this.line(this.paint('bold', `== ${title}`));
    if (subtitle) for (const l of subtitle.split('\n')) this.line(`   ${l}`);
  }

  /** Starts a step: prints "▸ what" now, and "✓ what (detail, 1.2s)" or "✗ ..." when it ends. */
  async step<T>(what: string, work: () => T | Promise<T>, detail?: (result: T) => string): Promise<T> {
    const t0 = Date.now();
    this.line(`${this.clock()} ${this.paint('cyan', '▸')} ${what}`);
    try {
      const result = await work();
      const d = detail ? detail(result) : '';
      this.line(`${this.clock()} ${this.paint('green', '✓')} ${what}${d ? `: ${d}` : ''} ${this.paint('dim', `(${seconds(Date.now() - t0)})`)}`);
      return result;
    } catch (e) {
      if (!this.stepsStopped) this.line(`${this.clock()} ${this.paint('red', '✗')} ${what}: ${(e as Error).message} ${this.paint('dim', `(${seconds(Date.now() - t0)})`)}`);
      throw e;
    }
  }

  /** After an interruption: steps that fail from now on (their work was torn down) stay silent. */
  stopSteps(): void {
    this.stepsStopped = true;
  }

  /** An indented block (command output). */
  block(text: string, indent = '   '): void {
    for (const l of text.replace(/\n+$/, '').split('\n')) this.line(`${indent}${l}`);
  }

  ok(text: string): string { return this.paint('green', text); }
  bad(text: string): string { return this.paint('red', text); }
  dim(text: string): string { return this.paint('dim', text); }
}

export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}

/** Pads to a display width (the check marks are one column wide). */
function pad(text: string, width: number): string {
  return text + ' '.repeat(Math.max(0, width - [...text].length));
}

/**
 * The ping grid: one row per source, one column per target, ✓ answered, ✗ not, · itself.
 * `mark` may colour the marks (it gets the plain mark and returns what to print).
 */
export function renderPingGrid(rows: string[], cols: string[], result: Map<string, Map<string, boolean | null>>, mark: (m: string, ok: boolean | null) => string = (m) => m): string {
  const w0 = Math.max('from \\ to'.length, ...rows.map((r) => r.length));
  const widths = cols.map((c) => Math.max(c.length, 1));
  const lines = [[pad('from \\ to', w0), ...cols.map((c, i) => pad(c, widths[i]))].join('  ')];
  for (const r of rows) {
    const cells = cols.map((c, i) => {
      const v = result.get(r)?.get(c);
      const m = v === null || v === undefined ? '·' : v ? '✓' : '✗';
      return mark(m, v ?? null) + ' '.repeat(Math.max(0, widths[i] - 1));
    });
    lines.push([pad(r, w0), ...cells].join('  '));
  }
  return lines.join('\n');
}

/** Counts of a ping grid. */
export function gridCounts(result: Map<string, Map<string, boolean | null>>): { ok: number; failed: number } {
  let ok = 0;
  let failed = 0;
  for (const row of result.values()) for (const v of row.values()) { if (v === true) ok++; else if (v === false) failed++; }
  return { ok, failed };
}

/** A plain left-aligned table. */
export function renderTable(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => [...(r[i] ?? '')].length)));
  const fmt = (cells: string[]): string => cells.map((c, i) => pad(c ?? '', widths[i])).join('  ').trimEnd();
  return [fmt(headers), ...rows.map(fmt)].join('\n');
}
