// Counting the demo's pings (src/demo/ping.ts) from iputils ping(8) output: replies by
// icmp_seq (RFC 792 echo), losses in the middle, the one request in flight when ping is stopped.
import { expect } from 'chai';
import { PingOutputError, parsePingOutput } from '../../../src/demo/ping';

function output(seqs: number[], transmitted: number): string {
  const lines = ['PING 10.244.2.2 (10.244.2.2) 56(84) bytes of data.'];
  for (const s of seqs) lines.push(`64 bytes from 10.244.2.2: icmp_seq=${s} ttl=62 time=0.${s % 10}41 ms`);
  lines.push('', '--- 10.244.2.2 ping statistics ---');
  lines.push(`${transmitted} packets transmitted, ${seqs.length} received, ${Math.round((100 * (transmitted - seqs.length)) / transmitted)}% packet loss, time 5012ms`);
  return lines.join('\n') + '\n';
}

describe('demo/ping', () => {
  it('counts a clean run', () => {
    const c = parsePingOutput(output([1, 2, 3, 4, 5], 5));
    expect(c).to.include({ transmitted: 5, received: 5, sent: 5, lost: 0, inFlightAtStop: false });
  });

  it('does not count the last request as lost when ping was stopped while it was in flight', () => {
    const c = parsePingOutput(output([1, 2, 3, 4], 5));
    expect(c).to.include({ transmitted: 5, received: 4, sent: 4, lost: 0, inFlightAtStop: true });
  });

  it('names the sequence numbers lost in the middle', () => {
    const c = parsePingOutput(output([1, 2, 5, 6, 7], 8));
    expect(c.lost).to.equal(2);
    expect(c.missing).to.deep.equal([3, 4]);
    expect(c.inFlightAtStop).to.equal(true);
    expect(c.sent).to.equal(7);
  });

  it('counts duplicates once and reads "+N errors" summaries', () => {
    const text = output([1, 2, 2, 3], 3).replace(' 4 received,', ' 3 received, +1 duplicates,');
    const c = parsePingOutput(text);
    expect(c).to.include({ received: 3, lost: 0 });
    const errors = 'PING x\nFrom 10.0.1.12 icmp_seq=1 Destination Host Unreachable\n\n--- x ping statistics ---\n2 packets transmitted, 0 received, +1 errors, 100% packet loss, time 1000ms\n';
    const e = parsePingOutput(errors);
    expect(e).to.include({ transmitted: 2, received: 0, lost: 1, inFlightAtStop: true });
  });

  it('rejects output without a summary with a typed error', () => {
    expect(() => parsePingOutput('ping: connect: Network is unreachable\n')).to.throw(PingOutputError, /packets transmitted/);
  });
});
