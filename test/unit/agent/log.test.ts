// Agent logging: level names (pino and Calico's logSeverityScreen), JSON lines with component
// children, the human format (exact text), and run-time level changes reaching existing children.
import { expect } from 'chai';
import {
  Logging, formatPrettyLine, parseLogLevel, effectiveLogLevel, levelFromSeverity, LogLevelError, PrettyStream,
} from '../../../src/agent/log';

class Capture {
  lines: string[] = [];
  isTTY = false;
  write(s: string): boolean {
    for (const l of s.split('\n')) if (l !== '') this.lines.push(l);
    return true;
  }
  json(): Record<string, unknown>[] {
    return this.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  }
}

describe('agent/log levels', () => {
  it('maps Calico severities to pino levels', () => {
    expect(levelFromSeverity('Debug')).to.equal('debug');
    expect(levelFromSeverity('Info')).to.equal('info');
    expect(levelFromSeverity('Warning')).to.equal('warn');
    expect(levelFromSeverity('Error')).to.equal('error');
    expect(levelFromSeverity('Fatal')).to.equal('fatal');
  });

  it('parses pino and Calico names case-insensitively', () => {
    expect(parseLogLevel('TRACE')).to.equal('trace');
    expect(parseLogLevel('Warning')).to.equal('warn');
    expect(parseLogLevel(' info ')).to.equal('info');
    expect(parseLogLevel('none')).to.equal('silent');
  });

  it('rejects an unknown level with an error naming the field and the value', () => {
    expect(() => parseLogLevel('verbose', 'spec.logSeverityScreen')).to.throw(LogLevelError, /spec\.logSeverityScreen: 'verbose' is not a log level/);
    try {
      parseLogLevel('loud');
    } catch (e) {
      expect((e as LogLevelError).code).to.equal('bad-log-level');
      expect((e as LogLevelError).field).to.equal('--log-level');
    }
  });

  it('lets the flag win over logSeverityScreen, which wins over info', () => {
    expect(effectiveLogLevel('debug', 'Error')).to.equal('debug');
    expect(effectiveLogLevel(undefined, 'Error')).to.equal('error');
    expect(effectiveLogLevel(undefined, undefined)).to.equal('info');
  });
});

describe('agent/log JSON output', () => {
  it('writes one JSON object per line with level name, ISO time, component and fields', () => {
    const cap = new Capture();
    const logging = new Logging({ destination: cap, base: { node: 'node-a' } });
    expect(logging.format).to.equal('json');
    const log = logging.component('speaker', { peer: '10.0.0.2' });
    log.info({ prefixes: 3 }, 'session established');
    log.debug('not shown at info');
    const [rec] = cap.json();
    expect(cap.lines).to.have.length(1);
    expect(rec.level).to.equal('info');
    expect(rec.component).to.equal('speaker');
    expect(rec.peer).to.equal('10.0.0.2');
    expect(rec.node).to.equal('node-a');
    expect(rec.prefixes).to.equal(3);
    expect(rec.msg).to.equal('session established');
    expect(rec.time).to.match(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  });

  it('changes the level of children made before the change, and of their children', () => {
    const cap = new Capture();
    const logging = new Logging({ destination: cap, level: 'info' });
    const speaker = logging.component('speaker');
    const peer = speaker.child({ peer: '10.0.0.9' });
    peer.debug('hidden');
    logging.setLevel('debug');
    peer.debug('now visible');
    speaker.trace('still hidden');
    logging.setLevel('error');
    speaker.warn('hidden again');
    speaker.error('shown');
    expect(cap.json().map((r) => r.msg)).to.deep.equal(['now visible', 'shown']);
  });

  it('applies logSeverityScreen unless a flag pinned the level', () => {
    const free = new Logging({ destination: new Capture() });
    expect(free.applySeverity('Warning')).to.equal('warn');
    expect(free.applySeverity(undefined)).to.equal('info');
    const pinned = new Logging({ destination: new Capture(), level: 'debug', pinned: true });
    expect(pinned.applySeverity('Error')).to.equal('debug');
  });

  it('chooses the human format when the destination is a terminal', () => {
    const cap = new Capture();
    cap.isTTY = true;
    const logging = new Logging({ destination: cap, colour: false });
    expect(logging.format).to.equal('pretty');
    logging.component('dataplane').warn({ prefix: '10.244.1.0/24', via: '10.0.0.3' }, 'route missing');
    expect(cap.lines[0]).to.match(/^\d\d:\d\d:\d\d\.\d{3} WARN  \[dataplane\] route missing prefix=10\.244\.1\.0\/24 via=10\.0\.0\.3$/);
  });
});

describe('agent/log human format', () => {
  const t = Date.UTC(2026, 10, 21, 11, 45, 2, 123);

  it('renders time, level, component, message, then key=value pairs', () => {
    const line = JSON.stringify({ level: 'info', time: new Date(t).toISOString(), component: 'speaker', peer: '10.0.0.2', msg: 'session established', asn: 64512 });
    expect(formatPrettyLine(line)).to.equal('11:45:02.123 INFO  [speaker] session established peer=10.0.0.2 asn=64512');
  });

  it('accepts numeric levels and epoch times, quotes values with spaces, shows objects as JSON', () => {
    const line = JSON.stringify({ level: 40, time: t, msg: 'x', reason: 'hold timer expired', caps: ['as4', 'rr'], n: null });
    expect(formatPrettyLine(line)).to.equal('11:45:02.123 WARN  x reason="hold timer expired" caps=["as4","rr"] n=null');
  });

  it('shows an error message, and its stack at error level', () => {
    const err = { type: 'Error', message: 'connect ECONNREFUSED', stack: 'Error: connect ECONNREFUSED\n    at a (x.js:1:1)', code: 'ECONNREFUSED' };
    const warn = formatPrettyLine(JSON.stringify({ level: 'warn', time: t, msg: 'dial failed', err }));
    expect(warn).to.equal('11:45:02.123 WARN  dial failed err="connect ECONNREFUSED" err.code=ECONNREFUSED');
    const error = formatPrettyLine(JSON.stringify({ level: 'error', time: t, msg: 'dial failed', err }));
    expect(error).to.equal('11:45:02.123 ERROR dial failed err="connect ECONNREFUSED" err.code=ECONNREFUSED\n' +
      '    Error: connect ECONNREFUSED\n    at a (x.js:1:1)');
  });

  it('colours the level when asked', () => {
    const out = formatPrettyLine(JSON.stringify({ level: 'error', time: t, msg: 'boom' }), { colour: true });
    expect(out).to.include('\x1b[31mERROR\x1b[0m');
  });

  it('passes lines that are not JSON objects through unchanged', () => {
    expect(formatPrettyLine('plain text\n')).to.equal('plain text');
    expect(formatPrettyLine('[1,2]')).to.equal('[1,2]');
  });

  it('reassembles lines split across writes', () => {
    const cap = new Capture();
    const s = new PrettyStream(cap, false);
    const line = JSON.stringify({ level: 'info', time: t, msg: 'hello' }) + '\n';
    s.write(line.slice(0, 10));
    expect(cap.lines).to.have.length(0);
    s.write(line.slice(10) + line);
    expect(cap.lines).to.deep.equal(['11:45:02.123 INFO  hello', '11:45:02.123 INFO  hello']);
  });
});
