import { describe, expect, it } from 'vitest';
import { parseClusterConfig, parseClusterKey, parseConnectionKey } from '@hastack/cluster';
import { Harness, MAC_A, VIP } from './harness.js';

const base = { nodeId: 'web-1', key: 'hex:' + '11'.repeat(32) };
const code = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (e) {
    return (e as { code?: string }).code;
  }
  return undefined;
};

describe('parseClusterConfig', () => {
  it('accepts a full configuration with port strings and defaults', () => {
    const c = parseClusterConfig({
      ...base,
      home: [{ ip: VIP, mac: '02:00:00:00:00:0A', ports: ['80', '8000-8999', 443] }],
      failover: { successors: ['web-2'], rules: [{ ports: ['443'], successors: ['web-3'] }], failback: 'drain' },
      applications: [{ name: 'http', ports: ['80'] }],
      heartbeatIntervalMs: 20,
      missedBeats: 3,
      replication: { policy: 'schedule', intervalMs: 100, replicas: 2 },
    });
    expect(c.key).toEqual(new Uint8Array(32).fill(0x11));
    expect(c.home).toEqual([{ ip: VIP, mac: '02:00:00:00:00:0a', ports: [{ from: 80, to: 80 }, { from: 443, to: 443 }, { from: 8000, to: 8999 }] }]);
    expect(c.failover).toEqual({ successors: ['web-2'], rules: [{ ports: [{ from: 443, to: 443 }], successors: ['web-3'] }], failback: 'drain' });
    expect(c.applications).toEqual([{ name: 'http', protocol: 'tcp', ports: [{ from: 80, to: 80 }] }]);
    expect(c).toMatchObject({ group: '239.255.77.77', port: 7777, arpPolicy: 'gratuitous-arp', heartbeatIntervalMs: 20, missedBeats: 3 });
    expect(c.replication).toEqual({ policy: 'schedule', intervalMs: 100, replicas: 2 });
  });

  it('names the bad field with ERR_CLUSTER_CONFIG / ERR_CLUSTER_AUTH', () => {
    expect(code(() => parseClusterConfig({ key: base.key }))).toBe('ERR_CLUSTER_CONFIG');
    expect(code(() => parseClusterConfig({ nodeId: 'x' }))).toBe('ERR_CLUSTER_AUTH');
    expect(code(() => parseClusterConfig({ ...base, key: 'hex:0011' }))).toBe('ERR_CLUSTER_AUTH');
    expect(code(() => parseClusterConfig({ ...base, home: [{ ip: '300.0.0.1', mac: MAC_A }] }))).toBe('ERR_CLUSTER_CONFIG');
    expect(code(() => parseClusterConfig({ ...base, home: [{ ip: VIP, mac: 'nope' }] }))).toBe('ERR_CLUSTER_CONFIG');
    expect(code(() => parseClusterConfig({ ...base, home: [{ ip: VIP, mac: MAC_A, ports: ['90-80'] }] }))).toBe('ERR_CLUSTER_CONFIG');
    expect(code(() => parseClusterConfig({ ...base, failover: { failback: 'sometimes' } }))).toBe('ERR_CLUSTER_CONFIG');
    expect(code(() => parseClusterConfig({ ...base, group: '198.18.0.1' }))).toBe('ERR_CLUSTER_CONFIG');
    expect(code(() => parseClusterConfig({ ...base, missedBeats: 1 }))).toBe('ERR_CLUSTER_CONFIG');
    expect(code(() => parseClusterConfig({ ...base, replication: { policy: 'often' } }))).toBe('ERR_CLUSTER_CONFIG');
    try {
      parseClusterConfig({ ...base, home: [{ ip: VIP, mac: 'nope' }] });
    } catch (e) {
      expect((e as Error).message).toContain('home[0].mac');
    }
  });

  it('keys: hex, base64, bytes; too short refused', () => {
    expect(parseClusterKey('base64:' + Buffer.alloc(16, 3).toString('base64'))).toEqual(new Uint8Array(16).fill(3));
    expect(parseClusterKey('ab'.repeat(16))).toEqual(new Uint8Array(16).fill(0xab));
    expect(parseClusterKey(new Uint8Array(20))).toHaveLength(20);
    expect(code(() => parseClusterKey('zz'))).toBe('ERR_CLUSTER_AUTH');
    expect(code(() => parseClusterKey(undefined))).toBe('ERR_CLUSTER_AUTH');
  });
});

describe('connection keys', () => {
  it('parses @hastack/checkpoint connectionKey forms', () => {
    expect(parseConnectionKey('tcp:198.18.0.10:80-198.18.1.5:40000')).toEqual({ ip: '198.18.0.10', port: 80 });
    expect(parseConnectionKey('udp:198.18.0.10:5004-*')).toEqual({ ip: '198.18.0.10', port: 5004 });
    expect(parseConnectionKey('bundle:tcp:198.18.0.10:21-198.18.1.5:40000')).toEqual({ ip: '198.18.0.10', port: 21 });
    expect(parseConnectionKey('tcp:1.2.3:80-x')).toBeNull();
    expect(parseConnectionKey('nonsense')).toBeNull();
  });

  it('updateCheckpoint by key alone replicates to the right successor', () => {
    const h = new Harness([
      { nodeId: 'A', home: [{ ip: VIP, mac: MAC_A }], failover: { successors: ['B'] } },
      { nodeId: 'B' },
    ]);
    h.startAll();
    h.advance(100);
    const key = `tcp:${VIP}:80-198.18.1.5:40000`;
    h.node('A').updateCheckpoint(key, new Uint8Array([7]));
    h.advance(1);
    expect(h.node('B').core.replicaEntries('A')).toMatchObject([{ key, ip: VIP, port: 80, version: 1 }]);
    expect(code(() => h.node('A').updateCheckpoint('garbage', new Uint8Array(1)))).toBe('ERR_INVALID_ARG_VALUE');
  });
});
