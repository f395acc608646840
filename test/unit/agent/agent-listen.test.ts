// checkListen (src/agent/agent.ts): the BGP listen address is tried (bind, close) before the
// agent changes anything, and a failure names the address, the port, the errno and a hint.
// Loopback only: 127.0.0.1, and 192.0.2.1 (TEST-NET-1, RFC 5737), which no host here holds.
import { expect } from 'chai';
import * as net from 'net';
import { checkListen } from '../../../src/agent/agent';
import { AgentConfigError } from '../../../src/agent/agent-plan';

async function refusal(p: Promise<void>): Promise<AgentConfigError> {
  try {
    await p;
  } catch (e) {
    expect(e).to.be.instanceOf(AgentConfigError);
    return e as AgentConfigError;
  }
  throw new Error('checkListen accepted an address it cannot bind');
}

describe('agent: listen address check before the host is touched', () => {
  it('accepts a usable address and leaves the port free again', async () => {
    await checkListen('node-a', '127.0.0.1', 0);
    const probe = net.createServer();
    await new Promise<void>((resolve) => probe.listen({ host: '127.0.0.1', port: 0 }, () => resolve()));
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    await checkListen('node-a', '127.0.0.1', port);
    await checkListen('node-a', '127.0.0.1', port); // closed after each check: the port is free
  });

  it('refuses an address no interface holds: EADDRNOTAVAIL, naming node, flag, address and port', async () => {
    const e = await refusal(checkListen('node-a', '192.0.2.1', 1179));
    expect(e.code).to.equal('LISTEN');
    expect(e.message).to.equal('node node-a: --listen-address: cannot listen for BGP on 192.0.2.1 port 1179: EADDRNOTAVAIL: no interface of this host holds that address');
  });

  it('refuses a port another process listens on: EADDRINUSE', async () => {
    const holder = net.createServer();
    await new Promise<void>((resolve) => holder.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => resolve()));
    const port = (holder.address() as net.AddressInfo).port;
    try {
      const e = await refusal(checkListen('node-a', '127.0.0.1', port));
      expect(e.message).to.contain(`cannot listen for BGP on 127.0.0.1 port ${port}: EADDRINUSE: another process`);
    } finally {
      await new Promise<void>((resolve) => holder.close(() => resolve()));
    }
  });
});
