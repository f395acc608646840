// `nexthop agent --max-paths N`: how many equal-cost BGP paths (equal up to the IGP-cost step of
// RFC 4271 §9.1.2.2) the agent keeps as one ECMP route (RFC 2992) in the FIB. Checks the default,
// the bounds 1..64 and the usage error naming the flag for anything else; and that `nexthop
// explain` gives the dataplane's reason for every next hop of an ECMP route, not just the first.
import { expect } from 'chai';
import { parseAgentArgs, AgentOptions, DEFAULT_MAX_PATHS, AGENT_HELP } from '../../../src/agent/agent-config';
import { decisionText } from '../../../src/agent/agent-views';
import type { FibNexthop } from '../../../src/dataplane/nexthop-decision';
import { UsageError } from '../../../src/cli/usage';

const BASE = ['--node', 'node-a', '--datastore', 'file:/etc/nexthop/cluster.yaml'];

function parse(args: string[]): AgentOptions {
  const o = parseAgentArgs([...BASE, ...args], {});
  if (o === 'help') throw new Error('unexpected help');
  return o;
}

function usageError(args: string[]): UsageError {
  try {
    parseAgentArgs([...BASE, ...args], {});
  } catch (e) {
    expect(e).to.be.instanceOf(UsageError);
    return e as UsageError;
  }
  throw new Error(`no usage error for ${args.join(' ')}`);
}

describe('agent: --max-paths (ECMP width)', () => {
  it('defaults to 4 equal paths', () => {
    expect(DEFAULT_MAX_PATHS).to.equal(4);
    expect(parse([]).maxPaths).to.equal(4);
  });

  it('takes every value from 1 to 64, in both flag spellings', () => {
    for (const n of [1, 2, 4, 8, 63, 64]) expect(parse(['--max-paths', String(n)]).maxPaths).to.equal(n);
    expect(parse(['--max-paths=16']).maxPaths).to.equal(16);
  });

  it('refuses values outside 1..64 or not a whole number, naming the flag and the bounds', () => {
    for (const bad of ['0', '65', '1000', '-1', '2.5', 'four', '', '0x4', ' 4']) {
      const e = usageError([`--max-paths=${bad}`]);
      expect(e.message, `--max-paths=${JSON.stringify(bad)}`).to.contain('--max-paths').and.to.contain('1..64');
      expect(e.usage).to.contain('usage: nexthop agent');
    }
  });

  it('refuses --max-paths without a value', () => {
    expect(usageError(['--max-paths']).message).to.contain('max-paths');
  });

  it('is documented in the agent help', () => {
    expect(AGENT_HELP).to.match(/--max-paths N\s+.*1\.\.64 \(default 4\)/);
  });
});

describe('agent: explain decision text for ECMP routes (RFC 2992)', () => {
  const direct = (gw: string, dev = 'eth0'): FibNexthop => ({ kind: 'direct', gateway: gw, dev, onlink: false, bgpNexthop: gw });
  const pool = { name: 'pods', cidr: '10.94.0.0/16', ipipMode: 'CrossSubnet', vxlanMode: 'Never', natOutgoing: true };

  it('explains a single next hop as before', () => {
    expect(decisionText({ prefix: '198.51.100.0/24', family: 4, nexthops: [direct('10.93.0.11')] }, undefined))
      .to.equal('next hop 10.93.0.11 is on the subnet of eth0, so packets go to it directly');
  });

  it('names every next hop of an ECMP route and says the kernel load-shares', () => {
    const t = decisionText({ prefix: '198.51.100.0/24', family: 4, nexthops: [direct('10.93.0.11'), direct('10.93.0.12')] }, undefined);
    expect(t).to.equal('next hops 10.93.0.11 and 10.93.0.12 are on the subnet of eth0, so packets go to them directly; '
      + 'the kernel load-shares over the 2 next hops (ECMP)');
  });

  it('gives one reason per kind of next hop when they differ (CrossSubnet: direct and IPIP side by side)', () => {
    const ipip: FibNexthop = { kind: 'ipip', gateway: '10.9.0.5', dev: 'tunl0', onlink: true, bgpNexthop: '10.9.0.5' };
    const t = decisionText({ prefix: '10.94.7.0/24', family: 4, nexthops: [direct('10.93.0.11'), ipip, direct('10.93.0.13')] }, pool)!;
    expect(t).to.contain('next hops 10.93.0.11 and 10.93.0.13 are on the subnet of eth0');
    expect(t).to.contain('next hop 10.9.0.5 is encapsulated in IPIP over tunl0');
    expect(t).to.contain('over the 3 next hops (ECMP)');
    expect(t).to.match(/\(pool pods: ipipMode CrossSubnet, vxlanMode Never\)$/);
  });

  it('says nothing when the route has no next hop', () => {
    expect(decisionText({ prefix: '198.51.100.0/24', family: 4, nexthops: [] }, undefined)).to.equal(undefined);
    expect(decisionText(null, undefined)).to.equal(undefined);
  });
});
