/**
 * Cluster configuration from plain data (a JSON file, CLI flags): validated field by field, with
 * `ERR_CLUSTER_CONFIG` / `ERR_CLUSTER_AUTH` errors that name the field. Also the parser for
 * `@hastack/checkpoint` connection keys, so replication can be driven by a key alone.
 */
import { err } from '@hastack/stack';
import { isPortRange, normalizePorts, type PortRange } from './ports.js';
import type { AddressSpec, Application, ArpPolicy, FailbackMode, FailoverPolicy } from './types.js';
import type { ClusterCoreOptions, ReplicationOptions, ReplicationPolicy } from './core.js';

/** What `parseClusterConfig` returns: everything ClusterNode needs except transport and clock. */
export type ClusterConfig = Omit<ClusterCoreOptions, 'bootId' | 'snooper'> & {
  /** Multicast group and port for `udpMulticastTransport`. */
  group: string;
  port: number;
};

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const MAC = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;

function bad(field: string, why: string): never {
  throw err('ERR_CLUSTER_CONFIG', `cluster config: ${field} ${why}`, { info: { field } });
}
function str(v: unknown, field: string): string {
  if (typeof v !== 'string' || v.length === 0) bad(field, 'must be a non-empty string');
  return v;
}
function num(v: unknown, field: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) bad(field, `must be a number in ${min}..${max}`);
  return v;
}
function list(v: unknown, field: string): unknown[] {
  if (!Array.isArray(v)) bad(field, 'must be an array');
  return v;
}
/** "80", "8000-8999", 80, or { from, to }. */
function portRange(v: unknown, field: string): PortRange {
  if (typeof v === 'number') v = String(v);
  if (typeof v === 'string') {
    const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(v.trim());
    if (!m) bad(field, `"${v}" is not a port or port range`);
    v = { from: Number(m[1]), to: Number(m[2] ?? m[1]) };
  }
  if (!isPortRange(v)) bad(field, 'must be a port range 0..65535 with from <= to');
  return { from: v.from, to: v.to };
}
function ports(v: unknown, field: string): PortRange[] {
  return normalizePorts(list(v, field).map((p, i) => portRange(p, `${field}[${i}]`)));
}
function nodeList(v: unknown, field: string): string[] {
  return list(v, field).map((s, i) => str(s, `${field}[${i}]`));
}

/** Decode a key given as hex ("hex:..." or plain hex) or base64 ("base64:..."), ≥ 16 bytes. */
export function parseClusterKey(v: unknown): Uint8Array {
  let bytes: Uint8Array;
  if (v instanceof Uint8Array) bytes = v;
  else if (typeof v === 'string') {
    if (v.startsWith('base64:')) bytes = Buffer.from(v.slice(7), 'base64');
    else {
      const hex = v.startsWith('hex:') ? v.slice(4) : v;
      if (!/^([0-9a-fA-F]{2})+$/.test(hex)) throw err('ERR_CLUSTER_AUTH', 'cluster key must be hex ("hex:..." or plain) or "base64:..."');
      bytes = Buffer.from(hex, 'hex');
    }
  } else throw err('ERR_CLUSTER_AUTH', 'cluster key is missing');
  if (bytes.length < 16) throw err('ERR_CLUSTER_AUTH', `cluster key must be at least 16 bytes (got ${bytes.length})`);
  return Uint8Array.from(bytes);
}

/**
 * Validate a plain cluster configuration:
 * ```json
 * { "nodeId": "web-1", "key": "hex:00112233...", "group": "239.255.77.77", "port": 7777,
 *   "home": [{ "ip": "198.18.0.100", "mac": "02:00:00:00:00:01", "ports": ["80"] }],
 *   "failover": { "successors": ["web-2"], "rules": [{ "ports": ["443"], "successors": ["web-3"] }], "failback": "drain" },
 *   "applications": [{ "name": "http", "protocol": "tcp", "ports": ["80"] }],
 *   "arpPolicy": "gratuitous-arp", "heartbeatIntervalMs": 50, "missedBeats": 4,
 *   "replication": { "policy": "every-update", "replicas": 1, "ackTimeoutMs": 250 } }
 * ```
 */
export function parseClusterConfig(raw: unknown): ClusterConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) bad('(root)', 'must be an object');
  const o = raw as Record<string, unknown>;
  const nodeId = str(o.nodeId, 'nodeId');
  if (Buffer.byteLength(nodeId) > 64) bad('nodeId', 'must be at most 64 bytes');
  const home: AddressSpec[] = list(o.home ?? [], 'home').map((a, i) => {
    const f = `home[${i}]`;
    if (typeof a !== 'object' || a === null) bad(f, 'must be an object');
    const x = a as Record<string, unknown>;
    const ip = str(x.ip, `${f}.ip`);
    if (!IPV4.test(ip)) bad(`${f}.ip`, `"${ip}" is not an IPv4 address`);
    const mac = str(x.mac, `${f}.mac`);
    if (!MAC.test(mac)) bad(`${f}.mac`, `"${mac}" is not a MAC address`);
    const spec: AddressSpec = { ip, mac: mac.toLowerCase() };
    if (x.ports !== undefined) spec.ports = ports(x.ports, `${f}.ports`);
    return spec;
  });
  const fo = (o.failover ?? {}) as Record<string, unknown>;
  if (typeof fo !== 'object' || fo === null) bad('failover', 'must be an object');
  const failover: FailoverPolicy = { successors: nodeList(fo.successors ?? [], 'failover.successors') };
  if (fo.rules !== undefined) {
    failover.rules = list(fo.rules, 'failover.rules').map((r, i) => {
      const x = (r ?? {}) as Record<string, unknown>;
      return { ports: ports(x.ports, `failover.rules[${i}].ports`), successors: nodeList(x.successors, `failover.rules[${i}].successors`) };
    });
  }
  if (fo.failback !== undefined) {
    if (!['drain', 'migrate', 'none'].includes(fo.failback as string)) bad('failover.failback', 'must be "drain", "migrate" or "none"');
    failover.failback = fo.failback as FailbackMode;
  }
  const applications: Application[] = list(o.applications ?? [], 'applications').map((a, i) => {
    const x = (a ?? {}) as Record<string, unknown>;
    return { name: str(x.name, `applications[${i}].name`), protocol: str(x.protocol ?? 'tcp', `applications[${i}].protocol`), ports: ports(x.ports ?? [], `applications[${i}].ports`) };
  });
  const arpPolicy = (o.arpPolicy ?? 'gratuitous-arp') as ArpPolicy;
  if (arpPolicy !== 'gratuitous-arp' && arpPolicy !== 'shared-mac') bad('arpPolicy', 'must be "gratuitous-arp" or "shared-mac"');
  const cfg: ClusterConfig = {
    nodeId,
    key: parseClusterKey(o.key),
    home,
    failover,
    applications,
    arpPolicy,
    protocols: o.protocols === undefined ? ['tcp'] : nodeList(o.protocols, 'protocols'),
    group: o.group === undefined ? '239.255.77.77' : str(o.group, 'group'),
    port: o.port === undefined ? 7777 : num(o.port, 'port', 1, 65535),
  };
  if (!IPV4.test(cfg.group) || Number(cfg.group.split('.')[0]) < 224 || Number(cfg.group.split('.')[0]) > 239) bad('group', `"${cfg.group}" is not an IPv4 multicast group`);
  if (o.heartbeatIntervalMs !== undefined) cfg.heartbeatIntervalMs = num(o.heartbeatIntervalMs, 'heartbeatIntervalMs', 1, 60_000);
  if (o.missedBeats !== undefined) cfg.missedBeats = num(o.missedBeats, 'missedBeats', 2, 1000);
  if (o.joinWindowMs !== undefined) cfg.joinWindowMs = num(o.joinWindowMs, 'joinWindowMs', 0, 600_000);
  if (o.maxDatagram !== undefined) cfg.maxDatagram = num(o.maxDatagram, 'maxDatagram', 512, 65507);
  if (o.replication !== undefined) {
    const r = o.replication as Record<string, unknown>;
    if (typeof r !== 'object' || r === null) bad('replication', 'must be an object');
    const rep: ReplicationOptions = {};
    if (r.policy !== undefined) {
      if (!['every-update', 'schedule', 'events', 'impending-failure-only'].includes(r.policy as string)) {
        bad('replication.policy', 'must be "every-update", "schedule", "events" or "impending-failure-only"');
      }
      rep.policy = r.policy as ReplicationPolicy;
    }
    for (const [k, min, max] of [
      ['intervalMs', 1, 3_600_000],
      ['replicas', 0, 64],
      ['ackTimeoutMs', 1, 600_000],
      ['ackRetransmitMs', 1, 600_000],
      ['maxEntries', 1, 1e9],
      ['maxBytes', 1, 2 ** 48],
    ] as const) {
      if (r[k] !== undefined) rep[k] = num(r[k], `replication.${k}`, min, max);
    }
    cfg.replication = rep;
  }
  return cfg;
}

/**
 * The local address and port of a connection key in `@hastack/checkpoint`'s `connectionKey` form
 * (`tcp:1.2.3.4:80-5.6.7.8:40000`, `udp:...`, `bundle:<member key>`), or null.
 */
export function parseConnectionKey(key: string): { ip: string; port: number } | null {
  const k = key.startsWith('bundle:') ? key.slice(7) : key;
  const m = /^(?:tcp|udp|sctp):(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})-/.exec(k);
  if (!m || !IPV4.test(m[1])) return null;
  const port = Number(m[2]);
  return port <= 65535 ? { ip: m[1], port } : null;
}
