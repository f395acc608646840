// The control socket for real, in a temp directory: permissions (directory 0700, socket 0600,
// an unprivileged process cannot connect), calls and concurrent calls from the client, protocol
// errors on a raw connection, timeouts, the "agent not running" message, a stale socket left by
// a killed agent being replaced, and a live socket / a plain file / an unsafe directory being
// refused and left alone.
import { expect } from 'chai';
import * as fs from 'fs';
import * as net from 'net';
import * as path from 'path';
import { Lab, isRoot, waitFor } from '../helpers/lab';
import {
  ControlServer, ControlClient, callAgent, ControlSocketError, AgentUnreachableError, AgentTimeoutError,
  AgentRequestError, ControlMethodError,
} from '../../src/agent/control';

function rawExchange(sockPath: string, send: string, lines: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const c = net.connect(sockPath);
    let buf = '';
    const timer = setTimeout(() => { c.destroy(); reject(new Error(`no ${lines} lines within 5s; got ${JSON.stringify(buf)}`)); }, 5000);
    c.setEncoding('utf8');
    c.on('data', (d: string) => {
      buf += d;
      const got = buf.split('\n').filter((l) => l !== '');
      if (got.length >= lines) {
        clearTimeout(timer);
        c.destroy();
        resolve(got);
      }
    });
    c.on('error', (e) => { clearTimeout(timer); reject(e); });
    c.write(send);
  });
}

async function expectReject(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a rejection');
}

describe('integration: agent control socket', () => {
  let lab: Lab;
  let dir: string;

  beforeEach(() => {
    lab = new Lab('ctl');
    dir = lab.tempDir();
  });

  afterEach(async () => {
    await lab.destroy();
  });

  it('creates the directory 0700 and the socket 0600, answers calls, removes the socket on close', async () => {
    const sockPath = path.join(dir, 'run', 'nexthop', 'nexthop.sock');
    const server = new ControlServer({ path: sockPath });
    server.handle('status', () => ({ node: 'node-a', peers: 3 }));
    server.handle('explain', (params) => ({ asked: (params as { address: string }).address }));
    await server.start();
    try {
      expect(fs.statSync(path.dirname(sockPath)).mode & 0o777).to.equal(0o700);
      const st = fs.statSync(sockPath);
      expect(st.isSocket()).to.equal(true);
      expect(st.mode & 0o777).to.equal(0o600);
      expect(await callAgent('status', undefined, { socketPath: sockPath })).to.deep.equal({ node: 'node-a', peers: 3 });
      expect(await callAgent('explain', { address: '10.244.1.7' }, { socketPath: sockPath })).to.deep.equal({ asked: '10.244.1.7' });
    } finally {
      await server.close();
    }
    expect(fs.existsSync(sockPath)).to.equal(false);
  });

  it('matches concurrent answers to their calls by id, whatever order they finish in', async () => {
    const sockPath = path.join(dir, 'c.sock');
    const server = new ControlServer({ path: sockPath });
    server.handle('sleep', async (params) => {
      const ms = (params as { ms: number }).ms;
      await new Promise((r) => setTimeout(r, ms));
      return ms;
    });
    await server.start();
    const client = new ControlClient({ socketPath: sockPath });
    try {
      const order: number[] = [];
      const calls = [300, 10, 150].map((ms) => client.call<number>('sleep', { ms }).then((v) => { order.push(v); return v; }));
      expect(await Promise.all(calls)).to.deep.equal([300, 10, 150]);
      expect(order).to.deep.equal([10, 150, 300]);
    } finally {
      client.close();
      await server.close();
    }
  });

  it('reports method errors with their code, and keeps the connection usable after bad lines', async () => {
    const sockPath = path.join(dir, 'e.sock');
    const server = new ControlServer({ path: sockPath, maxRequestBytes: 1000 });
    server.handle('explain', () => { throw new ControlMethodError('bad-params', "'10.1.2' is not an IP address"); });
    await server.start();
    try {
      const err = await expectReject(callAgent('explain', { address: '10.1.2' }, { socketPath: sockPath }));
      expect(err).to.be.instanceOf(AgentRequestError);
      expect(err.message).to.equal("nexthop agent: 'explain' failed: '10.1.2' is not an IP address (bad-params)");
      expect((err as AgentRequestError).code).to.equal('bad-params');
      const unknown = await expectReject(callAgent('nope', undefined, { socketPath: sockPath }));
      expect((unknown as AgentRequestError).code).to.equal('unknown-method');

      const lines = await rawExchange(sockPath, 'garbage\n\n{"id":2,"method":"ping"}\n', 2);
      expect(JSON.parse(lines[0])).to.deep.include({ id: null });
      expect(JSON.parse(lines[0]).error.code).to.equal('parse-error');
      expect(JSON.parse(lines[1])).to.deep.equal({ id: 2, result: { pong: true, pid: process.pid } });

      // An endless line without a newline: refused, connection closed.
      const big = await rawExchange(sockPath, 'x'.repeat(5000), 1);
      expect(JSON.parse(big[0])).to.deep.equal({ id: null, error: { code: 'too-large', message: 'request longer than 1000 bytes' } });
    } finally {
      await server.close();
    }
  });

  it('times out a call the agent does not answer', async () => {
    const sockPath = path.join(dir, 't.sock');
    const server = new ControlServer({ path: sockPath });
    server.handle('routes', () => new Promise((r) => setTimeout(r, 1500).unref()));
    await server.start();
    try {
      const t0 = Date.now();
      const err = await expectReject(callAgent('routes', undefined, { socketPath: sockPath, timeoutMs: 200 }));
      expect(err).to.be.instanceOf(AgentTimeoutError);
      expect(err.message).to.equal(`nexthop agent at ${sockPath} did not answer 'routes' within 200 ms`);
      expect(Date.now() - t0).to.be.lessThan(1000);
    } finally {
      await server.close();
    }
  });

  it('says plainly when no agent is running', async () => {
    const sockPath = path.join(dir, 'absent', 'nexthop.sock');
    const err = await expectReject(callAgent('status', undefined, { socketPath: sockPath }));
    expect(err).to.be.instanceOf(AgentUnreachableError);
    expect(err.message).to.equal(`cannot reach nexthop agent at ${sockPath}: is it running? (ENOENT)`);
  });

  it('replaces a stale socket left by a killed agent', async () => {
    const sockPath = path.join(dir, 'stale.sock');
    const child = lab.spawn(null, process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(sockPath)}, () => console.log('up'))`]);
    await waitFor('the stand-in agent to listen', () => fs.existsSync(sockPath), 5000, 20);
    process.kill(child.pid!, 'SIGKILL');
    await waitFor('the stand-in agent to die', () => child.exitCode !== null || child.signalCode !== null, 5000, 20);
    expect(fs.lstatSync(sockPath).isSocket()).to.equal(true);
    const unreachable = await expectReject(callAgent('ping', undefined, { socketPath: sockPath }));
    expect(unreachable.message).to.equal(`cannot reach nexthop agent at ${sockPath}: is it running? (ECONNREFUSED)`);

    const server = new ControlServer({ path: sockPath });
    await server.start();
    try {
      expect(await callAgent('ping', undefined, { socketPath: sockPath })).to.deep.equal({ pong: true, pid: process.pid });
    } finally {
      await server.close();
    }
  });

  it('refuses to take over a live socket, a plain file or an unsafe directory, and leaves them alone', async () => {
    const live = path.join(dir, 'live.sock');
    const first = new ControlServer({ path: live });
    await first.start();
    try {
      const err = await expectReject(new ControlServer({ path: live }).start());
      expect(err).to.be.instanceOf(ControlSocketError);
      expect((err as ControlSocketError).code).to.equal('in-use');
      expect(await callAgent('ping', undefined, { socketPath: live })).to.deep.include({ pong: true });
    } finally {
      await first.close();
    }

    const file = path.join(dir, 'notes.txt');
    fs.writeFileSync(file, 'keep me');
    const err2 = await expectReject(new ControlServer({ path: file }).start());
    expect((err2 as ControlSocketError).code).to.equal('not-a-socket');
    expect(err2.message).to.equal(`${file} exists and is not a socket; not removing it (choose another --control-socket or remove it)`);
    expect(fs.readFileSync(file, 'utf8')).to.equal('keep me');

    const open = path.join(dir, 'open');
    fs.mkdirSync(open);
    fs.chmodSync(open, 0o777);
    const err3 = await expectReject(new ControlServer({ path: path.join(open, 'n.sock') }).start());
    expect((err3 as ControlSocketError).code).to.equal('insecure-dir');
    expect(err3.message).to.include('is writable by group or others (mode 777)');
    expect(fs.existsSync(path.join(open, 'n.sock'))).to.equal(false);
  });

  it('cannot be used by an unprivileged user', async function () {
    if (!isRoot()) this.skip();
    // The lab's temp dir is 0700 like /run/nexthop, and the socket is 0600.
    const sockPath = path.join(dir, 'root-only.sock');
    fs.chmodSync(dir, 0o755); // let the user reach the directory, so the socket's own mode is tested
    const server = new ControlServer({ path: sockPath });
    await server.start();
    try {
      const clientModule = require.resolve('../../src/agent/control');
      // Load the client as root, then drop to nobody: only the socket's mode is under test, not
      // whether nobody can read the checkout.
      const script = `const client = require(${JSON.stringify(clientModule)}); process.setgid(65534); process.setuid(65534);
        client.callAgent('ping', undefined, { socketPath: ${JSON.stringify(sockPath)}, timeoutMs: 2000 })
          .then(() => console.log('CONNECTED'), (e) => console.log(e.message));`;
      // Run asynchronously: the server in this process must keep answering.
      const child = lab.spawn(null, process.execPath, ['-e', script]);
      let out = '';
      child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
      await waitFor('the unprivileged client to finish', () => child.exitCode !== null, 10000, 50);
      expect(out.trim()).to.equal(`cannot reach nexthop agent at ${sockPath}: permission denied, run as root (EACCES)`);
    } finally {
      await server.close();
    }
  });
});
