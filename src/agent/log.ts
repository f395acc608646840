// The agent's logs: structured JSON lines through pino (one object per line, levels trace..fatal,
// `component` child loggers such as {component:'speaker', peer:'10.0.0.2'}), or, when stdout is
// a terminal, a compact human format rendered by our own small pino destination stream (time,
// coloured level, component, message, then key=value pairs). The level comes from the
// --log-level flag, else from BGPConfiguration.logSeverityScreen (Calico's names: Debug, Info,
// Warning, Error, Fatal), else info; it can change at run time for every logger already made.
// No RFC: operator plumbing.

import pino from 'pino';
import type { LogSeverity } from '../cluster/resources';

export type Logger = pino.Logger;

/** pino's levels, plus 'silent' (nothing). */
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';

export const LOG_LEVELS: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

/** A bad level name from a flag or a resource field; names the field and what is accepted. */
export class LogLevelError extends Error {
  readonly code = 'bad-log-level';
  constructor(readonly value: string, readonly field: string) {
    super(`${field}: '${value}' is not a log level (one of trace, debug, info, warn, error, fatal, silent,` +
      ` or Calico's Debug, Info, Warning, Error, Fatal)`);
    this.name = 'LogLevelError';
  }
}

/** Calico's logSeverityScreen values mapped to pino levels. */
const CALICO_SEVERITY: Record<LogSeverity, LogLevel> = {
  Debug: 'debug', Info: 'info', Warning: 'warn', Error: 'error', Fatal: 'fatal',
};

/** BGPConfiguration.logSeverityScreen → pino level. */
export function levelFromSeverity(severity: LogSeverity): LogLevel {
  return CALICO_SEVERITY[severity];
}

/**
 * Parses a level name case-insensitively: pino names (trace..fatal, silent), "warning", "none"
 * (= silent) and Calico's severities. Throws LogLevelError naming `field`.
 */
export function parseLogLevel(value: string, field = '--log-level'): LogLevel {
  const v = value.trim().toLowerCase();
  if ((LOG_LEVELS as readonly string[]).includes(v)) return v as LogLevel;
  if (v === 'warning') return 'warn';
  if (v === 'none' || v === 'off') return 'silent';
  throw new LogLevelError(value, field);
}

/**
 * The level in force: an explicit flag wins over the datastore's logSeverityScreen, which wins
 * over 'info'.
 */
export function effectiveLogLevel(flag: string | undefined, severity: LogSeverity | undefined): LogLevel {
  if (flag !== undefined) return parseLogLevel(flag);
  if (severity !== undefined) return levelFromSeverity(severity);
  return 'info';
}

// ---------------------------------------------------------------------------------------------
// The human format

const LEVEL_NAMES: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
const LEVEL_NUMBERS: Record<string, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 };
const LEVEL_COLOURS: Record<string, string> = {
  TRACE: '\x1b[90m', DEBUG: '\x1b[34m', INFO: '\x1b[32m', WARN: '\x1b[33m', ERROR: '\x1b[31m', FATAL: '\x1b[1;41;97m',
};
const RESET = '\x1b[0m';
const DIM = '\x1b[2m';
const CYAN = '\x1b[36m';

/** Keys the human format shows in fixed places or drops. */
const FIXED_KEYS = new Set(['level', 'time', 'msg', 'component', 'pid', 'hostname']);

function formatValue(v: unknown): string {
  if (typeof v === 'string') return /^[^\s"=\\]+$/.test(v) ? v : JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (v === null || v === undefined) return String(v);
  return JSON.stringify(v);
}

function formatTime(t: unknown): string {
  let d: Date | null = null;
  if (typeof t === 'number') d = new Date(t);
  else if (typeof t === 'string') d = new Date(t);
  if (!d || Number.isNaN(d.getTime())) return typeof t === 'string' ? t : '--:--:--.---';
  return d.toISOString().slice(11, 23);
}

interface SerializedError { type?: string; message?: string; stack?: string; code?: string }

/**
 * Renders one pino JSON line for a human: "11:45:02.123 INFO  [speaker] session up peer=10.0.0.2".
 * Times are UTC. Errors (`err`) show as err="message" and, at error level and above, with their
 * stack on the following lines. A line that is not a JSON object comes back unchanged.
 */
export function formatPrettyLine(line: string, opts: { colour?: boolean } = {}): string {
  const trimmed = line.replace(/\n$/, '');
  let obj: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(trimmed);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return trimmed;
    obj = parsed as Record<string, unknown>;
  } catch {
    return trimmed;
  }
  const colour = opts.colour === true;
  const rawLevel = obj.level;
  const num = typeof rawLevel === 'number' ? rawLevel : typeof rawLevel === 'string' ? LEVEL_NUMBERS[rawLevel] : undefined;
  const levelName = (num !== undefined ? LEVEL_NAMES[num] : undefined) ?? String(rawLevel ?? '?').toUpperCase();
  const parts: string[] = [];
  const time = formatTime(obj.time);
  parts.push(colour ? DIM + time + RESET : time);
  const lvl = levelName.padEnd(5);
  parts.push(colour && LEVEL_COLOURS[levelName] ? LEVEL_COLOURS[levelName] + lvl + RESET : lvl);
  if (obj.component !== undefined) {
    const c = `[${String(obj.component)}]`;
    parts.push(colour ? CYAN + c + RESET : c);
  }
  if (obj.msg !== undefined && obj.msg !== '') parts.push(String(obj.msg));
  let stack: string | undefined;
  for (const [k, v] of Object.entries(obj)) {
    if (FIXED_KEYS.has(k)) continue;
    if ((k === 'err' || k === 'error') && v && typeof v === 'object') {
      const e = v as SerializedError;
      parts.push(`${k}=${formatValue(e.message ?? JSON.stringify(e))}`);
      if (e.code !== undefined) parts.push(`${k}.code=${formatValue(e.code)}`);
      if (num !== undefined && num >= 50 && typeof e.stack === 'string') stack = e.stack;
      continue;
    }
    const kv = `${k}=${formatValue(v)}`;
    parts.push(colour ? DIM + k + '=' + RESET + formatValue(v) : kv);
  }
  let out = parts.join(' ');
  if (stack) out += '\n' + stack.split('\n').map((l) => '    ' + l.trim()).join('\n');
  return out;
}

/** Anything with a write(string) method: process.stdout, a file stream, a test buffer. */
export interface LineSink {
  write(chunk: string): unknown;
  isTTY?: boolean;
}

/**
 * A pino destination that renders each JSON line with formatPrettyLine and writes it to `sink`.
 * pino hands a destination whole lines (possibly several in one chunk when buffered).
 */
export class PrettyStream {
  private pending = '';
  constructor(private readonly sink: LineSink, private readonly colour: boolean) {}

  write(chunk: string): boolean {
    this.pending += chunk;
    let nl = this.pending.indexOf('\n');
    while (nl >= 0) {
      const line = this.pending.slice(0, nl);
      this.pending = this.pending.slice(nl + 1);
      if (line.length > 0) this.sink.write(formatPrettyLine(line, { colour: this.colour }) + '\n');
      nl = this.pending.indexOf('\n');
    }
    return true;
  }
}

// ---------------------------------------------------------------------------------------------
// Loggers

export interface LoggingOptions {
  /** Initial level; default 'info'. */
  level?: LogLevel;
  /** 'auto' (default): human format when the destination is a terminal, JSON otherwise. */
  format?: 'json' | 'pretty' | 'auto';
  /** Where lines go; default stdout (synchronous writes, so nothing is lost at exit). */
  destination?: LineSink;
  /** Colours in the human format; default: destination is a TTY and NO_COLOR is not set. */
  colour?: boolean;
  /** Fields on every line, e.g. { node: 'node-a' }. */
  base?: Record<string, unknown>;
  /**
   * The level was given on the command line: then logSeverityScreen from the datastore does not
   * override it (see applySeverity).
   */
  pinned?: boolean;
}

/**
 * The agent's logging: a root logger, component loggers, and one switch for the level of all of
 * them (pino children copy the level when they are made, so we track them).
 */
export class Logging {
  readonly root: Logger;
  readonly format: 'json' | 'pretty';
  private readonly pinned: boolean;
  private readonly children = new Set<WeakRef<Logger>>();

  constructor(opts: LoggingOptions = {}) {
    const dest: LineSink = opts.destination ?? pino.destination({ dest: 1, sync: true });
    const isTTY = opts.destination ? opts.destination.isTTY === true : process.stdout.isTTY === true;
    const format = opts.format ?? 'auto';
    this.format = format === 'auto' ? (isTTY ? 'pretty' : 'json') : format;
    this.pinned = opts.pinned === true;
    const colour = opts.colour ?? (isTTY && !process.env.NO_COLOR);
    const stream = this.format === 'pretty' ? new PrettyStream(dest, colour) : dest;
    const children = this.children;
    this.root = pino({
      level: opts.level ?? 'info',
      base: opts.base ?? null,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      // Called for every descendant, so setLevel reaches loggers made with .child() anywhere.
      onChild: (child) => { children.add(new WeakRef(child)); },
    }, stream as pino.DestinationStream);
  }

  /** A logger for one part of the agent: component('speaker', { peer: '10.0.0.2' }). */
  component(name: string, fields: Record<string, unknown> = {}): Logger {
    return this.root.child({ component: name, ...fields });
  }

  get level(): LogLevel {
    return this.root.level as LogLevel;
  }

  /** Changes the level of the root and of every live child logger. */
  setLevel(level: LogLevel): void {
    this.root.level = level;
    for (const ref of this.children) {
      const child = ref.deref();
      if (child) child.level = level;
      else this.children.delete(ref);
    }
  }

  /**
   * Applies BGPConfiguration.logSeverityScreen (undefined: back to info) unless the level was
   * pinned by a flag. Returns the level now in force.
   */
  applySeverity(severity: LogSeverity | undefined): LogLevel {
    if (!this.pinned) this.setLevel(severity ? levelFromSeverity(severity) : 'info');
    return this.level;
  }
}
