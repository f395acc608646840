// A hand-driven BGP peer for the speaker tests: a TCP server on a loopback address that records
// every message each accepted connection receives; the test writes the peer's side by hand.
import * as net from 'net';
import { Framer, decodeMessage, codecContext } from '../../../src/wire';
import type { BgpMessage } from '../../../src/wire/types';

export interface RawConn { sock: net.Socket; got: BgpMessage[] }
export interface RawPeer { port: number; conns: RawConn[] }

/** Listens on `address` (port chosen by the kernel); servers and sockets are pushed for cleanup. */
export function rawPeer(address: string, servers: net.Server[], sockets: net.Socket[]): Promise<RawPeer> {
  const conns: RawConn[] = [];
  const server = net.createServer((sock) => {
    const c: RawConn = { sock, got: [] };
    const framer = new Framer();
    sockets.push(sock);
    sock.on('error', () => { /* reset by the speaker */ });
    sock.on('data', (d: Buffer) => { for (const f of framer.push(d)) c.got.push(decodeMessage(f, codecContext())); });
    conns.push(c);
  });
  servers.push(server);
  return new Promise((resolve) => server.listen(0, address, () => resolve({ port: (server.address() as net.AddressInfo).port, conns })));
}
