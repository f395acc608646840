// The agent's HTTP endpoint over loopback with a real HTTP client: /metrics exposition from a
// real Metrics registry, /healthz, /readyz flipping between 503 (with the reasons) and 200 as
// the conditions change, HEAD/405/404, a failing readiness function, and a clear error when the
// port is taken. Needs no root: it only listens on 127.0.0.1 with a kernel-chosen port.
import { expect } from 'chai';
import * as http from 'http';
import * as net from 'net';
import { StatusHttpServer, readinessConditions, ReadinessInput, HttpListenError } from '../../src/agent/http';
import { Metrics } from '../../src/agent/metrics';

interface Reply { status: number; headers: http.IncomingHttpHeaders; body: string }

function request(port: number, path: string, method = 'GET'): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method, timeout: 5000, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

describe('integration: agent HTTP endpoint (loopback)', () => {
  let server: StatusHttpServer;
  let port: number;
  const state: ReadinessInput = { datastoreConnected: false, blocks: [], sessions: [] };
  const metrics = new Metrics({ node: 'node-a', version: '0.1.0' });
  let readinessThrows = false;

  before(async () => {
    server = new StatusHttpServer({
      address: '127.0.0.1:0',
      metrics,
      readiness: () => {
        if (readinessThrows) throw new Error('speaker snapshot unavailable');
        return readinessConditions(state);
      },
    });
    port = (await server.start()).port;
  });

  after(async () => {
    await server?.close();
  });

  it('serves Prometheus text on /metrics', async () => {
    metrics.peerState('10.0.0.2', 'mesh', 'Established');
    metrics.fibRoutes('ipv4', 7);
    const r = await request(port, '/metrics');
    expect(r.status).to.equal(200);
    expect(r.headers['content-type']).to.match(/^text\/plain; version=0\.0\.4/);
    expect(r.body).to.include('nexthop_bgp_session_state{peer="10.0.0.2",type="mesh"} 6');
    expect(r.body).to.include('nexthop_fib_routes{family="ipv4"} 7');
    expect(r.body).to.match(/^nexthop_process_cpu_seconds_total \d/m);
  });

  it('answers /healthz while the event loop turns', async () => {
    const r = await request(port, '/healthz');
    expect(r.status).to.equal(200);
    const body = JSON.parse(r.body) as { status: string; eventLoopDelayMs: { p99: number } };
    expect(body.status).to.equal('alive');
    expect(body.eventLoopDelayMs.p99).to.be.a('number');
  });

  it('answers /readyz 503 with what is not ready, then 200 once everything is', async () => {
    state.datastoreConnected = false;
    state.blocks = [];
    state.sessions = [{ name: 'node/b/v4', address: '10.0.0.2', state: 'Connect' }];
    let r = await request(port, '/readyz');
    expect(r.status).to.equal(503);
    const body = JSON.parse(r.body) as { ready: boolean; notReady: { name: string; detail: string }[] };
    expect(body.ready).to.equal(false);
    expect(body.notReady.map((n) => n.name)).to.deep.equal(['datastore', 'block', 'session node/b/v4']);
    expect(body.notReady[2].detail).to.equal('10.0.0.2 is Connect');

    state.datastoreConnected = true;
    state.blocks = ['10.244.3.0/24'];
    state.sessions = [{ name: 'node/b/v4', address: '10.0.0.2', state: 'Established' }];
    r = await request(port, '/readyz');
    expect(r.status).to.equal(200);
    expect((JSON.parse(r.body) as { ready: boolean }).ready).to.equal(true);
  });

  it('answers 503 naming the failure when the readiness function throws', async () => {
    readinessThrows = true;
    try {
      const r = await request(port, '/readyz');
      expect(r.status).to.equal(503);
      expect(r.body).to.include('readiness check failed: speaker snapshot unavailable');
    } finally {
      readinessThrows = false;
    }
  });

  it('supports HEAD, refuses other methods with 405 and unknown paths with 404', async () => {
    const head = await request(port, '/healthz', 'HEAD');
    expect(head.status).to.equal(200);
    expect(head.body).to.equal('');
    expect(Number(head.headers['content-length'])).to.be.greaterThan(0);
    const post = await request(port, '/metrics', 'POST');
    expect(post.status).to.equal(405);
    expect(post.headers.allow).to.equal('GET, HEAD');
    const nf = await request(port, '/debug');
    expect(nf.status).to.equal(404);
    expect(nf.body).to.include('endpoints: /metrics /healthz /readyz');
  });

  it('reports a liveness hook that fails as 503', async () => {
    const s = new StatusHttpServer({
      address: '127.0.0.1:0', metrics, readiness: () => [],
      liveness: () => ({ ok: false, detail: 'speaker queue stuck for 30s' }),
    });
    const p = (await s.start()).port;
    try {
      const r = await request(p, '/healthz');
      expect(r.status).to.equal(503);
      expect(JSON.parse(r.body)).to.include({ status: 'unhealthy', detail: 'speaker queue stuck for 30s' });
    } finally {
      await s.close();
    }
  });

  it('says which address is taken when the port is in use', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const taken = (blocker.address() as net.AddressInfo).port;
    try {
      const s = new StatusHttpServer({ address: `127.0.0.1:${taken}`, metrics, readiness: () => [] });
      let err: unknown;
      try {
        await s.start();
      } catch (e) {
        err = e;
      }
      expect(err).to.be.instanceOf(HttpListenError);
      expect((err as HttpListenError).message).to.equal(`cannot serve metrics/health on 127.0.0.1:${taken}: address already in use (EADDRINUSE)`);
      await s.close();
    } finally {
      await new Promise<void>((r) => blocker.close(() => r()));
    }
  });
});
