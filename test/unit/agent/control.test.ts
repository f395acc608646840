// The control protocol's request handling without a socket: ControlServer.dispatch turns one
// request line into one response, whatever the line holds. (Sockets, permissions, stale files
// and the client are in test/integration/agent-control.test.ts.)
import { expect } from 'chai';
import { ControlServer, ControlMethodError } from '../../../src/agent/control';

describe('agent/control dispatch', () => {
  const server = new ControlServer({ path: '/nonexistent/never-started.sock', maxRequestBytes: 200 });
  server.handle('echo', (params) => ({ params }));
  server.handle('explain', (params) => {
    const p = params as { address?: unknown } | null;
    if (typeof p?.address !== 'string') throw new ControlMethodError('bad-params', "explain needs params {address: 'IP'}");
    return { address: p.address };
  });
  server.handle('boom', () => { throw new Error('RIB snapshot failed'); });
  server.handle('coded', () => { throw Object.assign(new Error('etcd unavailable'), { code: 'ECONNREFUSED' }); });
  server.handle('bigint', () => ({ n: 1n }));
  server.handle('nothing', () => undefined);

  it('answers a request with its id and the handler result', async () => {
    expect(await server.dispatch('{"id":7,"method":"echo","params":{"a":[1,2]}}')).to.deep.equal({ id: 7, result: { params: { a: [1, 2] } } });
    expect(await server.dispatch('{"id":"x","method":"nothing"}')).to.deep.equal({ id: 'x', result: null });
    expect(await server.dispatch('{"method":"ping"}')).to.deep.equal({ id: null, result: { pong: true, pid: process.pid } });
  });

  it('lists its methods, built-in ones included', async () => {
    const r = await server.dispatch('{"id":1,"method":"methods"}');
    expect(r).to.deep.equal({ id: 1, result: ['bigint', 'boom', 'coded', 'echo', 'explain', 'methods', 'nothing', 'ping'] });
  });

  it('rejects lines that are not requests with precise errors', async () => {
    expect(await server.dispatch('{not json')).to.deep.include({ id: null });
    expect(((await server.dispatch('{not json')) as { error: { code: string } }).error.code).to.equal('parse-error');
    expect(await server.dispatch('[1,2]')).to.deep.equal({ id: null, error: { code: 'invalid-request', message: 'request must be a JSON object {id, method, params}' } });
    expect(await server.dispatch('{"id":{"x":1},"method":"ping"}')).to.deep.equal({ id: null, error: { code: 'invalid-request', message: 'id must be a string or a number' } });
    expect(await server.dispatch('{"id":3,"method":""}')).to.deep.equal({ id: 3, error: { code: 'invalid-request', message: 'method must be a non-empty string' } });
    expect(await server.dispatch('{"id":3}')).to.deep.equal({ id: 3, error: { code: 'invalid-request', message: 'method must be a non-empty string' } });
    expect(await server.dispatch(`{"id":1,"method":"echo","params":"${'x'.repeat(300)}"}`)).to.deep.equal({ id: null, error: { code: 'too-large', message: 'request longer than 200 bytes' } });
  });

  it('names the known methods when the method is unknown', async () => {
    const r = await server.dispatch('{"id":4,"method":"stauts"}');
    expect(r).to.deep.equal({ id: 4, error: { code: 'unknown-method', message: "unknown method 'stauts' (known: bigint, boom, coded, echo, explain, methods, nothing, ping)" } });
  });

  it('turns handler failures into error responses, keeping a handler\'s own code', async () => {
    expect(await server.dispatch('{"id":5,"method":"explain","params":{}}')).to.deep.equal({ id: 5, error: { code: 'bad-params', message: "explain needs params {address: 'IP'}" } });
    expect(await server.dispatch('{"id":5,"method":"explain","params":{"address":"10.244.1.5"}}')).to.deep.equal({ id: 5, result: { address: '10.244.1.5' } });
    expect(await server.dispatch('{"id":6,"method":"boom"}')).to.deep.equal({ id: 6, error: { code: 'handler-error', message: 'RIB snapshot failed' } });
    expect(await server.dispatch('{"id":6,"method":"coded"}')).to.deep.equal({ id: 6, error: { code: 'ECONNREFUSED', message: 'etcd unavailable' } });
    // The response line: a result JSON cannot carry becomes an error, the id kept.
    const big = JSON.parse(await server.respond('{"id":8,"method":"bigint"}')) as { id: number; error: { code: string; message: string } };
    expect(big.id).to.equal(8);
    expect(big.error.code).to.equal('handler-error');
    expect(big.error.message).to.match(/^result is not serializable: .*BigInt/);
    expect(JSON.parse(await server.respond('{"id":9,"method":"echo","params":[1]}'))).to.deep.equal({ id: 9, result: { params: [1] } });
  });
});
