// A hand-driven BGP peer for the speaker tests: a TCP server on a loopback address that records
// every message each accepted connection receives; the test writes the peer's side by hand.
import * as net from 'net';
import { Framer, decodeMessage, encodeMessage, codecContext } from '../../../src/wire';
import type { BgpMessage, OpenMessage } from '../../../src/wire/types';

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

/** A passive peer that answers the speaker's OPEN by itself; the test sees every later message. */
export interface AnsweringPeer {
  port: number;
  /** The accepted connection (null until the speaker connects). */
  sock: net.Socket | null;
}

/**
 * Listens on `address`; on the speaker's OPEN answers with `open` and a KEEPALIVE (the session
 * comes up), then hands every other message it receives to `onMessage`, with the connection to
 * answer on. Servers and sockets are pushed for cleanup.
 */
export function answeringPeer(address: string, open: OpenMessage, servers: net.Server[], sockets: net.Socket[], onMessage: (m: BgpMessage, sock: net.Socket) => void): Promise<AnsweringPeer> {
  const p: AnsweringPeer = { port: 0, sock: null };
  const server = net.createServer((sock) => {
    p.sock = sock;
    sockets.push(sock);
    const framer = new Framer();
    sock.on('error', () => { /* reset by the speaker at the end */ });
    sock.on('data', (d: Buffer) => {
      for (const f of framer.push(d)) {
        const m = decodeMessage(f, codecContext());
        if (m.type === 'open') sock.write(Buffer.concat([encodeMessage(open, codecContext()), encodeMessage({ type: 'keepalive' }, codecContext())]));
        else onMessage(m, sock);
      }
    });
  });
  servers.push(server);
  return new Promise((resolve) => server.listen(0, address, () => {
    p.port = (server.address() as net.AddressInfo).port;
    resolve(p);
  }));
}
