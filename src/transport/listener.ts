// The BGP listening socket (RFC 4271 §8: the passive side of TCP establishment, port 179), shared
// by every peer on one address/port. An incoming connection is handed to the peer registered for
// its source address; one from any other address is closed at once and counted. Per-peer TCP MD5
// keys (RFC 2385) live on the listening socket so the kernel verifies the SYN; GTSM (RFC 5082) is
// applied per accepted socket, and optionally on the listening socket itself so that a SYN from
// too far away is dropped before any handshake.

import * as net from 'net';
import { canonicalIP } from '../lib/ip';
import { BGP_PORT } from './dialer';
import { TransportError, enableGtsm, fdOf, normalizeAddress, setMinTtl, setTcpMd5, setTtl } from './sockopt';

export interface ListenerPeer {
  /** RFC 2385 key this peer's segments must carry. */
  md5Password?: string;
  /** RFC 5082 GTSM for this peer's connections (hops; 1 = directly connected). */
  ttlSecurityHops?: number;
  /** Outgoing TTL when GTSM is off. */
  ttl?: number;
  /** Receives each accepted connection from this peer (already configured). */
  onConnection(socket: net.Socket): void;
}

export interface ListenerOptions {
  /** '0.0.0.0', '::' (dual stack) or a specific local address. */
  address: string;
  /** Default 179; 0 picks a free port (tests). */
  port?: number;
  /**
   * IP_MINTTL / IPV6_MINHOPCOUNT on the listening socket: SYNs arriving with a smaller TTL are
   * dropped by the kernel for every peer of this listener (RFC 5082 §3 when all peers use GTSM).
   */
  minTtl?: number;
  /** Told about each refused connection. */
  onReject?(remoteAddress: string, reason: string): void;
}

export class BgpListener {
  private readonly server: net.Server;
  private readonly peers = new Map<string, ListenerPeer>();
  private listening = false;
  /** Connections refused because no peer is configured for their address. */
  rejected = 0;
  accepted = 0;

  constructor(private readonly opts: ListenerOptions) {
    if (!canonicalIP(opts.address)) throw new TransportError('listen', opts.address, 'EINVAL', 'not an IP address');
    this.server = net.createServer({ pauseOnConnect: false }, (s) => this.onConnection(s));
  }

  /** "[::]:179", "10.0.0.1:179". */
  get description(): string {
    const a = this.opts.address.includes(':') ? `[${this.opts.address}]` : this.opts.address;
    return `${a}:${this.port}`;
  }

  /** The bound port (useful with port 0). */
  get port(): number {
    const addr = this.server.address();
    return addr && typeof addr === 'object' ? addr.port : this.opts.port ?? BGP_PORT;
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const onError = (e: NodeJS.ErrnoException) => {
        reject(new TransportError('listen on', `${this.opts.address} port ${this.opts.port ?? BGP_PORT}`, e.code ?? 'EIO', e.message));
      };
      this.server.once('error', onError);
      this.server.listen({ host: this.opts.address, port: this.opts.port ?? BGP_PORT, ipv6Only: false }, () => {
        this.server.off('error', onError);
        resolve();
      });
    });
    this.listening = true;
    this.server.on('error', () => { /* accept errors (EMFILE...) are transient; the server keeps listening */ });
    const fd = fdOf(this.server);
    if (this.opts.minTtl) setMinTtl(fd, this.opts.minTtl, this.description);
    for (const [address, peer] of this.peers) this.installPeer(fd, address, peer);
  }

  /**
   * Per-peer state on the listening socket: the MD5 key, and for a GTSM peer TTL 255, because
   * the SYN-ACK leaves from the listening socket before the accepted one exists (RFC 5082 §3:
   * every packet to the peer carries 255, or its minimum-TTL check drops our SYN-ACK).
   */
  private installPeer(fd: number, address: string, peer: ListenerPeer): void {
    if (peer.md5Password) setTcpMd5(fd, address, peer.md5Password);
    if (peer.ttlSecurityHops) setTtl(fd, 255, this.description);
  }

  /** Registers a peer; its MD5 key is installed on the listening socket. */
  addPeer(address: string, peer: ListenerPeer): void {
    const key = canonicalIP(address);
    if (!key) throw new TransportError('add peer to listener', address, 'EINVAL', 'not an IP address');
    if (this.peers.has(key)) throw new TransportError('add peer to listener', key, 'EEXIST', `already registered on ${this.description}`);
    if (this.listening) this.installPeer(fdOf(this.server), key, peer);
    this.peers.set(key, peer);
  }

  removePeer(address: string): void {
    const key = canonicalIP(address) ?? address;
    const peer = this.peers.get(key);
    if (!peer) return;
    this.peers.delete(key);
    if (this.listening && peer.md5Password) {
      try { setTcpMd5(fdOf(this.server), key, ''); } catch { /* the key is gone with the socket anyway */ }
    }
  }

  hasPeer(address: string): boolean {
    return this.peers.has(canonicalIP(address) ?? address);
  }

  private onConnection(s: net.Socket): void {
    const remote = normalizeAddress(s.remoteAddress ?? '');
    const peer = this.peers.get(remote);
    if (!peer) {
      this.rejected++;
      s.on('error', () => { /* ignore resets from a refused peer */ });
      s.destroy();
      this.opts.onReject?.(remote, 'no peer configured for this address');
      return;
    }
    try {
      const fd = fdOf(s);
      if (peer.ttlSecurityHops) enableGtsm(fd, peer.ttlSecurityHops, remote);
      else if (peer.ttl) setTtl(fd, peer.ttl, remote);
    } catch (e) {
      this.rejected++;
      s.destroy();
      this.opts.onReject?.(remote, (e as Error).message);
      return;
    }
    this.accepted++;
    peer.onConnection(s);
  }

  close(): void {
    if (!this.listening) return;
    this.listening = false;
    // Stops accepting at once; connections already handed to peers stay theirs to close.
    this.server.close();
  }
}
