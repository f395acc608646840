// `nexthop agent` flag parsing: defaults, every flag, and the usage errors a bad flag gives
// (UsageError naming the flag: exit 2 before anything is opened).
import { expect } from 'chai';
import { parseAgentArgs, AgentOptions, DEFAULT_CNI_CONF_DIR, DEFAULT_SUBNET_ENV, DEFAULT_STATE_DIR, AGENT_HELP } from '../../../src/agent/agent-config';
import { UsageError } from '../../../src/cli/usage';

const BASE = ['--node', 'node-a', '--datastore', 'file:/etc/nexthop/cluster.yaml'];

function parse(args: string[], env: NodeJS.ProcessEnv = {}): AgentOptions {
  const o = parseAgentArgs(args, env);
  if (o === 'help') throw new Error('unexpected help');
  return o;
}

function usageError(args: string[], env: NodeJS.ProcessEnv = {}): string {
  try {
    parseAgentArgs(args, env);
  } catch (e) {
    expect(e).to.be.instanceOf(UsageError);
    expect((e as UsageError).usage).to.contain('usage: nexthop agent');
    return (e as Error).message;
  }
  throw new Error(`no usage error for ${args.join(' ')}`);
}

describe('agent: flags (agent-config)', () => {
  it('fills the documented defaults', () => {
    const o = parse(BASE);
    expect(o).to.deep.include({
      node: 'node-a', datastore: 'file:/etc/nexthop/cluster.yaml', controlSocket: '/run/nexthop/nexthop.sock',
      metricsAddress: '127.0.0.1:9743', cniConfDir: DEFAULT_CNI_CONF_DIR, cniConflistName: '10-nexthop.conflist',
      subnetEnv: DEFAULT_SUBNET_ENV, stateDir: DEFAULT_STATE_DIR, restartTime: 120, transitionTimeout: 60, firewall: true,
    });
    expect(o.listenPort).to.equal(undefined); // from BGPConfiguration listenPort, else 179
    expect(o.routerId).to.equal(undefined); // the node's IPv4 address
    expect(o.uplink).to.equal(undefined); // the interface holding the node address
    expect(o.logLevel).to.equal(undefined); // logSeverityScreen
  });

  it('takes every flag', () => {
    const o = parse([...BASE, '--listen-address', '10.0.0.5', '--listen-port', '1790', '--router-id', '10.9.9.9',
      '--control-socket', '/tmp/x.sock', '--metrics-address', ':9100', '--cni-conf-dir', '/tmp/cni', '--cni-conflist-name', '20-x.conflist',
      '--subnet-env', 'none', '--ipam-data-dir', '/tmp/ipam', '--uplink', 'ens3', '--state-dir', '/tmp/st', '--restart-time', '30',
      '--transition-timeout', '5', '--no-firewall', '--log-level', 'debug']);
    expect(o).to.deep.include({
      listenAddress: '10.0.0.5', listenPort: 1790, routerId: '10.9.9.9', controlSocket: '/tmp/x.sock', metricsAddress: ':9100',
      cniConfDir: '/tmp/cni', cniConflistName: '20-x.conflist', subnetEnv: null, ipamDataDir: '/tmp/ipam', uplink: 'ens3',
      stateDir: '/tmp/st', restartTime: 30, transitionTimeout: 5, firewall: false, logLevel: 'debug',
    });
    expect(parse([...BASE, '--metrics-address', 'none', '--cni-conf-dir', 'none']).metricsAddress).to.equal(null);
    expect(parse([...BASE, '--cni-conf-dir', 'none']).cniConfDir).to.equal(null);
  });

  it('takes the datastore from NEXTHOP_DATASTORE when the flag is absent', () => {
    expect(parse(['--node', 'a'], { NEXTHOP_DATASTORE: 'etcd:http://127.0.0.1:2379' }).datastore).to.equal('etcd:http://127.0.0.1:2379');
  });

  it('--help', () => {
    expect(parseAgentArgs(['--help'], {})).to.equal('help');
    for (const f of ['--listen-address', '--listen-port', '--control-socket', '--metrics-address', '--cni-conf-dir', '--cni-conflist-name',
      '--subnet-env', '--ipam-data-dir', '--uplink', '--log-level', '--router-id', '--state-dir']) expect(AGENT_HELP).to.contain(f);
  });

  it('refuses bad flags with a message naming the flag', () => {
    expect(usageError(['--datastore', 'file:/x'])).to.contain('--node');
    expect(usageError(['--node', 'a'])).to.contain('--datastore');
    expect(usageError(['--node', 'a', '--datastore', 'zookeeper:x'])).to.contain("unknown backend 'zookeeper'");
    expect(usageError([...BASE, '--listen-port', '0'])).to.contain('--listen-port');
    expect(usageError([...BASE, '--listen-port', '65536'])).to.contain('--listen-port');
    expect(usageError([...BASE, '--listen-address', '10.0.0.300'])).to.contain('--listen-address');
    expect(usageError([...BASE, '--router-id', '0.0.0.0'])).to.contain('--router-id');
    expect(usageError([...BASE, '--router-id', 'fe80::1'])).to.contain('--router-id');
    expect(usageError([...BASE, '--metrics-address', 'localhost'])).to.match(/metrics-address/);
    expect(usageError([...BASE, '--log-level', 'loud'])).to.contain('--log-level');
    expect(usageError([...BASE, '--restart-time', '5000'])).to.contain('--restart-time');
    expect(usageError([...BASE, '--cni-conflist-name', '../x.conflist'])).to.contain('--cni-conflist-name');
    expect(usageError([...BASE, '--uplink', 'a-very-long-interface-name'])).to.contain('--uplink');
    expect(usageError([...BASE, '--bogus'])).to.contain("unknown option '--bogus'");
    expect(usageError([...BASE, 'extra'])).to.contain("unexpected argument 'extra'");
  });
});
