// When a speaker runs its JIT warm-up (src/speaker/warmup.ts, SpeakerConfig.warmUp): a reflector
// and a speaker with a peer that may send a full table (a ToR, an iBGP non-client) warm up, at
// start or when the first such peer is added; a node that only meshes with nodes or is a
// reflector's client does not (they send cluster blocks only); an explicit setting wins.
import { expect } from 'chai';
import { Speaker } from '../../../src/speaker';
import type { PeerConfig, PeerType, SpeakerConfig } from '../../../src/speaker';
import { waitFor } from '../../helpers/lab';
import { speakerTestResources } from './resources';

const AS = 64512;

function speaker(extra: Partial<SpeakerConfig>, logs: string[]): Speaker {
  return new Speaker({
    localAs: AS,
    routerId: '10.77.13.1',
    listen: [],
    pools: ['10.244.0.0/16'],
    gracefulRestart: { enabled: false },
    log: (_level, message) => logs.push(message),
    ...extra,
  });
}

/** A passive peer: nothing connects during the test. */
const peer = (n: number, type: PeerType): PeerConfig => ({ name: `p${n}`, address: `127.77.13.${n}`, peerAs: type === 'external' ? 65001 : AS, type, passive: true });
const warmedUp = (logs: string[]): boolean => logs.some((l) => l.startsWith('JIT warm-up:'));

describe('speaker: when the JIT warm-up runs', function () {
  this.timeout(20000);
  const { live } = speakerTestResources();

  /** Starts a speaker with `peers`; returns it and its log lines. */
  async function started(extra: Partial<SpeakerConfig>, peers: PeerConfig[]): Promise<{ s: Speaker; logs: string[] }> {
    const logs: string[] = [];
    const s = speaker(extra, logs);
    live.push(s);
    for (const p of peers) s.addPeer(p);
    await s.start();
    return { s, logs };
  }

  it('not for a node that meshes with nodes and is a reflector\'s client', async () => {
    const { logs } = await started({}, [peer(2, 'mesh'), peer(3, 'rr-server')]);
    await new Promise((r) => setTimeout(r, 50));
    expect(warmedUp(logs)).to.equal(false);
  });

  it('at start for a speaker with an external peer (a ToR may send a full table)', async () => {
    const { logs } = await started({}, [peer(2, 'mesh'), peer(4, 'external')]);
    expect(warmedUp(logs)).to.equal(true);
  });

  it('at start for a route reflector, and when a first peer that may send a full table joins a running speaker', async () => {
    expect(warmedUp((await started({ clusterId: '10.77.13.1' }, [])).logs)).to.equal(true);

    const { s, logs } = await started({}, [peer(2, 'mesh')]);
    expect(warmedUp(logs)).to.equal(false);
    s.addPeer(peer(5, 'rr-nonclient'));
    await waitFor('warm-up on the new peer', () => warmedUp(logs), 5000, 20);
  });

  it('never with warmUp: false, always with warmUp: true', async () => {
    const off = await started({ warmUp: false }, [peer(4, 'external')]);
    off.s.addPeer(peer(5, 'external'));
    await new Promise((r) => setTimeout(r, 50));
    expect(warmedUp(off.logs)).to.equal(false);

    expect(warmedUp((await started({ warmUp: true }, [peer(2, 'mesh')])).logs)).to.equal(true);
  });
});
