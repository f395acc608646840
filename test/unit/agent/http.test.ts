// The pure parts of the agent's HTTP endpoint: listen-address parsing and the readiness rule.
// (The server itself is exercised over loopback in test/integration/agent-http.test.ts.)
import { expect } from 'chai';
import { parseListenAddress, formatListenAddress, readinessConditions, ListenAddressError } from '../../../src/agent/http';

describe('agent/http listen address', () => {
  it('parses host:port, [v6]:port, :port and a bare port', () => {
    expect(parseListenAddress('127.0.0.1:9743')).to.deep.equal({ host: '127.0.0.1', port: 9743 });
    expect(parseListenAddress('[::1]:9743')).to.deep.equal({ host: '::1', port: 9743 });
    expect(parseListenAddress(':9743')).to.deep.equal({ host: '', port: 9743 });
    expect(parseListenAddress('9100')).to.deep.equal({ host: '127.0.0.1', port: 9100 });
    expect(parseListenAddress('localhost:0')).to.deep.equal({ host: 'localhost', port: 0 });
    expect(formatListenAddress({ host: '::1', port: 9743 })).to.equal('[::1]:9743');
    expect(formatListenAddress({ host: '0.0.0.0', port: 1 })).to.equal('0.0.0.0:1');
  });

  it('rejects bad addresses with the flag name and the reason', () => {
    const bad: [string, RegExp][] = [
      ['127.0.0.1', /has no port/],
      ['127.0.0.1:70000', /bad port '70000'/],
      ['127.0.0.1:http', /bad port 'http'/],
      ['::1:9743', /IPv6 address without brackets/],
      ['[::1:9743', /unterminated IPv6 bracket/],
      ['a b:80', /bad host 'a b'/],
    ];
    for (const [text, re] of bad) {
      expect(() => parseListenAddress(text), text).to.throw(ListenAddressError, re);
      expect(() => parseListenAddress(text), text).to.throw(/^--metrics-address: /);
    }
  });
});

describe('agent/http readiness rule', () => {
  it('is ready with the datastore reached, a block owned, every session Established', () => {
    const c = readinessConditions({
      datastoreConnected: true, blocks: ['10.244.3.0/24'],
      sessions: [{ name: 'node/b/v4', address: '10.0.0.2', state: 'Established' }],
    });
    expect(c.every((x) => x.ready)).to.equal(true);
    expect(c.map((x) => x.name)).to.deep.equal(['datastore', 'block', 'session node/b/v4']);
  });

  it('counts a peer in graceful restart as ready (its routes are kept)', () => {
    const c = readinessConditions({
      datastoreConnected: true, blocks: ['10.244.3.0/24'],
      sessions: [{ name: 'node/b/v4', address: '10.0.0.2', state: 'Active', peerRestarting: true }],
    });
    expect(c[2]).to.deep.equal({ name: 'session node/b/v4', ready: true, detail: '10.0.0.2 in graceful restart (routes kept)' });
  });

  it('lists each thing that is not ready, with why', () => {
    const c = readinessConditions({
      datastoreConnected: false, datastoreError: 'connect ECONNREFUSED 127.0.0.1:2379', blocks: [],
      sessions: [
        { name: 'node/b/v4', address: '10.0.0.2', state: 'Active', info: 'Active: Connection refused' },
        { name: 'peer/10.0.1.1', address: '10.0.1.1', state: 'OpenSent' },
        { name: 'node/c/v4', address: '10.0.0.3', state: 'Established' },
      ],
    });
    expect(c.filter((x) => !x.ready)).to.deep.equal([
      { name: 'datastore', ready: false, detail: 'datastore not reached: connect ECONNREFUSED 127.0.0.1:2379' },
      { name: 'block', ready: false, detail: 'no pod block owned yet' },
      { name: 'session node/b/v4', ready: false, detail: '10.0.0.2 is Active: Connection refused' },
      { name: 'session peer/10.0.1.1', ready: false, detail: '10.0.1.1 is OpenSent' },
    ]);
  });
});
