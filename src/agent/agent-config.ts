// The `nexthop agent` command line: flags, their defaults, and the checks that need no I/O
// (a bad flag is a usage error, exit 2, before anything is opened). Pure. No RFC; the
// defaults follow Calico/flannel conventions (port 179, /etc/cni/net.d, /run/flannel/subnet.env
// style subnet file under /run/nexthop).

import { parseFlags, UsageError } from '../cli/usage';
import { DEFAULT_CONTROL_SOCKET } from './control';
import { DEFAULT_METRICS_ADDRESS, parseListenAddress, ListenAddressError } from './http';
import { LOG_LEVELS, LogLevel } from './log';
import { parseDatastoreSpec, datastoreSpecText, DATASTORE_ENV } from '../cluster/open';
import { DatastoreError } from '../cluster/errors';
import { EtcdAccessFlags, ETCD_ENV, checkEtcdAccess, resolveEtcdAccess } from '../cluster/etcd-security';
import { canonicalIP } from '../lib/ip';

export const DEFAULT_CNI_CONF_DIR = '/etc/cni/net.d';
export const DEFAULT_CNI_CONFLIST_NAME = '10-nexthop.conflist';
export const DEFAULT_SUBNET_ENV = '/run/nexthop/subnet.env';
export const DEFAULT_STATE_DIR = '/var/lib/nexthop';
/** RFC 4724 §3 Restart Time we advertise, seconds. */
export const DEFAULT_RESTART_TIME = 120;
/** How long a make-before-break peer change waits for the new sessions before removing the old. */
export const DEFAULT_TRANSITION_TIMEOUT_S = 60;
export const DEFAULT_MAX_PATHS = 4;

export interface AgentOptions {
  node: string;
  /** "file:PATH" or "etcd:URL[,URL]" (or $NEXTHOP_DATASTORE, or "etcd:" with $ETCD_ENDPOINTS). */
  datastore: string;
  /** --etcd-ca-cert/--etcd-cert/--etcd-key/--etcd-username/--etcd-password-file; ETCD_* variables fill the gaps. */
  etcdAccess?: EtcdAccessFlags;
  /** Address the BGP listener binds; default '::' when the node has IPv6, else '0.0.0.0'. */
  listenAddress?: string;
  /** Default: BGPConfiguration listenPort (179). */
  listenPort?: number;
  controlSocket: string;
  /** "HOST:PORT"; "none" disables the HTTP server. */
  metricsAddress: string | null;
  /** null: no CNI config is written. */
  cniConfDir: string | null;
  cniConflistName: string;
  /** null: no subnet.env is written. */
  subnetEnv: string | null;
  ipamDataDir?: string;
  uplink?: string;
  logLevel?: LogLevel;
  routerId?: string;
  stateDir: string;
  /** RFC 4724 Restart Time we advertise (0..4095 s). */
  restartTime: number;
  /** Seconds a peer transition waits for new sessions before it gives up on them. */
  transitionTimeout: number;
  /** RFC 4271 §9.1.2.2 leaves multipath to the implementation: up to this many equal paths form an ECMP route. */
  maxPaths: number;
  /** Firewall rules (FORWARD accept, NAT outgoing); default on. */
  firewall: boolean;
}

export const AGENT_USAGE = 'usage: nexthop agent --node NAME --datastore file:PATH|etcd:URL[,URL] [options]';

export const AGENT_HELP = `${AGENT_USAGE}

Runs the node agent: claims the node's pod block, announces it over BGP, learns the other
nodes' blocks and writes them into the kernel FIB. SIGTERM/SIGINT stop it gracefully: routes
stay in the FIB and peers keep ours as stale (RFC 4724), so a restart loses no traffic.

  --node NAME               this node's Node resource (required)
  --datastore SPEC          etcd:http(s)://HOST:PORT[,URL...][?prefix=/p/] or file:PATH
                            (default: $${DATASTORE_ENV}; etcd: takes the URLs from $${ETCD_ENV.endpoints})
  --etcd-ca-cert FILE       CA of the etcd server's certificate (default: $${ETCD_ENV.caCert}, else system CAs)
  --etcd-cert FILE          etcd client certificate (default: $${ETCD_ENV.cert})
  --etcd-key FILE           its private key (default: $${ETCD_ENV.key})
  --etcd-username NAME      etcd user (default: $${ETCD_ENV.username})
  --etcd-password-file FILE file holding the etcd user's password (default: $${ETCD_ENV.passwordFile},
                            else the password in $${ETCD_ENV.password})
  --listen-address ADDR     BGP listen address (default :: when the node has IPv6, else 0.0.0.0)
  --listen-port PORT        BGP listen port (default: BGPConfiguration listenPort, else 179)
  --router-id A.B.C.D       BGP identifier (default: the node's IPv4 address)
  --control-socket PATH     unix socket for nexthop status/routes/explain (default ${DEFAULT_CONTROL_SOCKET})
  --metrics-address ADDR    /metrics /healthz /readyz on HOST:PORT, or 'none' (default ${DEFAULT_METRICS_ADDRESS})
  --cni-conf-dir DIR        where the CNI conflist is written, or 'none' (default ${DEFAULT_CNI_CONF_DIR})
  --cni-conflist-name NAME  file name of the conflist (default ${DEFAULT_CNI_CONFLIST_NAME})
  --subnet-env PATH         flannel-style subnet.env, or 'none' (default ${DEFAULT_SUBNET_ENV})
  --ipam-data-dir DIR       host-local IPAM state directory (default: the plugin's /var/lib/cni/networks)
  --uplink IFNAME           underlay interface (default: the one holding the node's address)
  --state-dir DIR           agent state (sysctl values to restore) (default ${DEFAULT_STATE_DIR})
  --restart-time SECONDS    graceful restart time we advertise, 0..4095 (default ${DEFAULT_RESTART_TIME})
  --transition-timeout S    make-before-break: wait at most S seconds for new sessions (default ${DEFAULT_TRANSITION_TIMEOUT_S})
  --max-paths N             equal-cost BGP paths installed as one ECMP route, 1..64 (default ${DEFAULT_MAX_PATHS})
  --no-firewall             write no FORWARD/NAT rules
  --log-level LEVEL         ${LOG_LEVELS.join(', ')} (default: BGPConfiguration logSeverityScreen, else info)
  --help                    this text`;

const SPEC = {
  node: 'string', datastore: 'string', 'listen-address': 'string', 'listen-port': 'string', 'router-id': 'string',
  'control-socket': 'string', 'metrics-address': 'string', 'cni-conf-dir': 'string', 'cni-conflist-name': 'string',
  'subnet-env': 'string', 'ipam-data-dir': 'string', uplink: 'string', 'state-dir': 'string', 'restart-time': 'string',
  'transition-timeout': 'string', 'max-paths': 'string', 'no-firewall': 'boolean', 'log-level': 'string', help: 'boolean',
  'etcd-ca-cert': 'string', 'etcd-cert': 'string', 'etcd-key': 'string', 'etcd-username': 'string', 'etcd-password-file': 'string',
} as const;

const DOTTED_QUAD = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

function intFlag(text: string | undefined, flag: string, min: number, max: number): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max) {
    throw new UsageError(`--${flag} '${text}' must be an integer ${min}..${max}`, AGENT_USAGE);
  }
  return Number(text);
}

const noneOr = (v: string | undefined, dflt: string): string | null => (v === 'none' ? null : v ?? dflt);

/**
 * Parses the agent's flags. Returns 'help' for --help. Throws UsageError naming the flag for
 * anything wrong that can be seen without I/O.
 */
export function parseAgentArgs(args: string[], env: NodeJS.ProcessEnv = process.env): AgentOptions | 'help' {
  const { flags, positional } = parseFlags(args, SPEC, AGENT_USAGE);
  if (flags.help) return 'help';
  if (positional.length > 0) throw new UsageError(`unexpected argument '${positional[0]}'`, AGENT_USAGE);
  const s = (k: keyof typeof SPEC): string | undefined => flags[k] as string | undefined;
  const node = s('node');
  if (!node) throw new UsageError('--node NAME is required', AGENT_USAGE);
  const datastore = datastoreSpecText(s('datastore'), env);
  if (!datastore) throw new UsageError(`--datastore is required (or set ${DATASTORE_ENV} or ${ETCD_ENV.endpoints})`, AGENT_USAGE);
  const etcdAccess: EtcdAccessFlags = {
    caCert: s('etcd-ca-cert'), cert: s('etcd-cert'), key: s('etcd-key'), username: s('etcd-username'), passwordFile: s('etcd-password-file'),
  };
  try {
    // Spec and etcd TLS/auth combinations that cannot work; the files are read when the agent starts.
    const store = parseDatastoreSpec(datastore, env);
    if (store.type === 'etcd') checkEtcdAccess(store.endpoints, resolveEtcdAccess(etcdAccess, env));
    else if (Object.values(etcdAccess).some((v) => v !== undefined)) throw new UsageError(`--etcd-* flags apply to an etcd datastore, not ${datastore}`, AGENT_USAGE);
  } catch (e) {
    if (e instanceof DatastoreError) throw new UsageError(e.message, AGENT_USAGE);
    throw e;
  }
  const listenAddress = s('listen-address');
  if (listenAddress !== undefined && !canonicalIP(listenAddress)) throw new UsageError(`--listen-address '${listenAddress}' is not an IP address`, AGENT_USAGE);
  const routerId = s('router-id');
  if (routerId !== undefined) {
    const m = DOTTED_QUAD.exec(routerId);
    if (!m || m.slice(1).some((x) => Number(x) > 255) || routerId === '0.0.0.0') {
      throw new UsageError(`--router-id '${routerId}' is not a non-zero dotted quad (RFC 6286 §2.1)`, AGENT_USAGE);
    }
  }
  const metrics = noneOr(s('metrics-address'), DEFAULT_METRICS_ADDRESS);
  if (metrics !== null) {
    try { parseListenAddress(metrics); } catch (e) {
      if (e instanceof ListenAddressError) throw new UsageError(e.message, AGENT_USAGE);
      throw e;
    }
  }
  const logLevel = s('log-level');
  if (logLevel !== undefined && !(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    throw new UsageError(`--log-level '${logLevel}' is not one of ${LOG_LEVELS.join(', ')}`, AGENT_USAGE);
  }
  const conflistName = s('cni-conflist-name') ?? DEFAULT_CNI_CONFLIST_NAME;
  if (conflistName.includes('/') || !/\.conflist$/.test(conflistName)) {
    throw new UsageError(`--cni-conflist-name '${conflistName}' must be a file name ending in .conflist`, AGENT_USAGE);
  }
  const uplink = s('uplink');
  if (uplink !== undefined && (uplink.length === 0 || uplink.length > 15 || /[/\s]/.test(uplink))) {
    throw new UsageError(`--uplink '${uplink}' is not an interface name (1..15 characters, no '/' or spaces)`, AGENT_USAGE);
  }
  return {
    node,
    datastore,
    etcdAccess,
    listenAddress,
    listenPort: intFlag(s('listen-port'), 'listen-port', 1, 65535),
    controlSocket: s('control-socket') ?? DEFAULT_CONTROL_SOCKET,
    metricsAddress: metrics,
    cniConfDir: noneOr(s('cni-conf-dir'), DEFAULT_CNI_CONF_DIR),
    cniConflistName: conflistName,
    subnetEnv: noneOr(s('subnet-env'), DEFAULT_SUBNET_ENV),
    ipamDataDir: s('ipam-data-dir'),
    uplink,
    logLevel: logLevel as LogLevel | undefined,
    routerId,
    stateDir: s('state-dir') ?? DEFAULT_STATE_DIR,
    restartTime: intFlag(s('restart-time'), 'restart-time', 0, 4095) ?? DEFAULT_RESTART_TIME,
    transitionTimeout: intFlag(s('transition-timeout'), 'transition-timeout', 1, 86400) ?? DEFAULT_TRANSITION_TIMEOUT_S,
    maxPaths: intFlag(s('max-paths'), 'max-paths', 1, 64) ?? DEFAULT_MAX_PATHS,
    firewall: flags['no-firewall'] !== true,
  };
}
