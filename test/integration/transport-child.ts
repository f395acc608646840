// Helper process for the transport integration tests: runs a BgpListener and PeerConnections
// inside a network namespace (started with `ip netns exec NS node transport-child.js CONFIG`),
// prints every peer event as one JSON line on stdout, and takes JSON commands on stdin:
// {"cmd":"stop","peer":"10.0.0.2","communication":"bye"}, {"cmd":"status","peer":...},
// {"cmd":"sockopts","peer":...}, {"cmd":"exit"}. Not a test file itself.
import * as readline from 'readline';
import { BgpListener } from '../../src/transport/listener';
import { PeerConnection, serialQueue } from '../../src/transport/peer';
import { fdOf, readTtlOptions } from '../../src/transport/sockopt';
import type { PeerConnectionOptions, PeerEvent } from '../../src/transport/peer';
import type { ListenerOptions } from '../../src/transport/listener';

export interface ChildConfig {
  listen?: Omit<ListenerOptions, 'onReject'>;
  peers: Pick<PeerConnectionOptions, 'session' | 'transport'>[];
}

function emit(o: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(o)}\n`);
}

function describe(e: PeerEvent): Record<string, unknown> {
  switch (e.type) {
    case 'established': {
      const s = e.session;
      return { type: e.type, peerId: s.peerId, peerAs: s.peerAs, holdTime: s.holdTime, families: s.families, as4: s.as4, endpoints: e.endpoints };
    }
    case 'down': return { type: e.type, reason: e.reason };
    case 'update': return { type: e.type, nlri: e.message.nlri.length };
    default: return { ...e };
  }
}

async function main(): Promise<void> {
  const cfg = JSON.parse(process.argv[2]) as ChildConfig;
  const enqueue = serialQueue((e) => emit({ type: 'error', message: String((e as Error)?.stack ?? e) }));
  let listener: BgpListener | undefined;
  if (cfg.listen) {
    listener = new BgpListener({ ...cfg.listen, onReject: (remote, reason) => emit({ type: 'rejected', remote, reason }) });
    await listener.listen();
  }
  const peers = new Map<string, PeerConnection>();
  for (const p of cfg.peers) {
    const pc = new PeerConnection({
      ...p,
      listener,
      enqueue,
      onEvent: (e) => emit({ peer: pc.remoteAddress, ...describe(e) }),
    });
    peers.set(pc.remoteAddress, pc);
  }
  for (const pc of peers.values()) pc.start();
  emit({ type: 'ready', port: listener?.port ?? null });

  const rl = readline.createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    let cmd: { cmd: string; peer?: string; communication?: string; hardReset?: boolean };
    try { cmd = JSON.parse(line); } catch { emit({ type: 'error', message: `bad command ${line}` }); return; }
    const pc = cmd.peer ? peers.get(cmd.peer) : undefined;
    switch (cmd.cmd) {
      case 'stop': pc?.stop({ communication: cmd.communication, hardReset: cmd.hardReset }); break;
      case 'status': {
        const st = pc?.status();
        emit({ type: 'status', peer: cmd.peer, state: st?.state, lastError: st?.lastError, failures: st?.failures, messagesIn: st?.messagesIn, connections: st?.connections, rejected: listener?.rejected });
        break;
      }
      case 'sockopts': {
        // The established socket is private; read the listener's, which is what GTSM tests need.
        emit({ type: 'sockopts', listener: listener ? readTtlOptions(fdOf((listener as unknown as { server: import('net').Server }).server)) : null });
        break;
      }
      case 'exit':
        for (const p of peers.values()) p.close();
        listener?.close();
        setTimeout(() => process.exit(0), 200);
        break;
    }
  });
}

main().catch((e) => {
  emit({ type: 'fatal', message: String((e as Error)?.stack ?? e) });
  process.exit(1);
});
