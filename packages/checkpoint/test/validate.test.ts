/**
 * Well-signed but schema-invalid checkpoints: each field class is refused with a precise
 * `field` and `reason`. Invalid objects are mapped to the wire form by hand (toWire does not
 * validate) and signed with the right key, so only the validator stands in the way.
 */
import { describe, expect, it } from 'vitest';
import { decodeCheckpoint, encodeCheckpoint, validateCheckpoint, type Checkpoint } from '@hastack/checkpoint';
import { HastackError, type BundleCheckpoint, type TcpCheckpoint, type UdpCheckpoint } from '@hastack/stack';
import { toWire } from '../src/wire.js';
import { bundle, KEY, signRaw, tcpFull, tcpObjectMapped, udp } from './fixtures.js';

function refused(bytes: Uint8Array, opts: Record<string, unknown> = {}): HastackError & { field: string; reason: string } {
  try {
    decodeCheckpoint(bytes, { key: KEY, ...opts });
  } catch (e) {
    expect(e).toBeInstanceOf(HastackError);
    expect((e as HastackError).code).toBe('ERR_CHECKPOINT_INVALID');
    return e as HastackError & { field: string; reason: string };
  }
  throw new Error('accepted an invalid checkpoint');
}

/** Mutate a fresh fixture, sign its wire form, expect refusal naming `field` (and `reason`). */
function check<T extends Checkpoint>(make: () => T, mutate: (cp: T) => void, field: string, reason?: RegExp, opts?: Record<string, unknown>): void {
  const cp = make();
  mutate(cp);
  const e = refused(signRaw(toWire(cp)), opts);
  expect(e.field).toBe(field);
  if (reason) expect(e.reason).toMatch(reason);
  // The pure validator says the same without any signing.
  let direct: unknown;
  try {
    validateCheckpoint(cp, opts?.limits as never);
  } catch (x) {
    direct = x;
  }
  expect((direct as { field?: string })?.field).toBe(field);
}

const T = tcpObjectMapped;
const F = tcpFull;

describe('meta, link, ip', () => {
  it('meta', () => {
    check(T, (c) => (c.meta.version = 2), 'meta.version', /future version 2/);
    check(T, (c) => (c.meta.version = 0), 'meta.version', /integer in 1\.\.1/);
    check(T, (c) => (c.meta.nodeId = ''), 'meta.nodeId', /string of 1\.\.256/);
    check(T, (c) => (c.meta.nodeId = 'x'.repeat(257)), 'meta.nodeId');
    check(T, (c) => (c.meta.takenAt = -1), 'meta.takenAt');
    check(T, (c) => (c.meta.takenAt = NaN), 'meta.takenAt');
    check(T, (c) => (c.meta.takenAtMono = 'now' as never), 'meta.takenAtMono', /got string/);
  });
  it('link', () => {
    check(T, (c) => (c.link.localMac = new Uint8Array([1, 0, 94, 0, 0, 1])), 'link.localMac', /group/);
    // Wrong lengths cannot even be written in the wire form (MACs travel as 48-bit numbers):
    // the object-form validator refuses them, and the wire decoder refuses bad numbers.
    const direct = (f: (c: TcpCheckpoint) => void, field: string) => {
      const c = T();
      f(c);
      expect(() => validateCheckpoint(c)).toThrow(new RegExp(`${field.replace('.', '\\.')}: expected 6\\.\\.6 bytes`));
    };
    direct((c) => (c.link.localMac = new Uint8Array(5)), 'link.localMac');
    direct((c) => (c.link.peerMac = new Uint8Array(7)), 'link.peerMac');
    direct((c) => (c.link.localMac = 'aa:bb' as never), 'link.localMac');
    const w = toWire(T()) as unknown[];
    for (const bad of [2 ** 48, -1, 1.5, 'aa:bb', new Uint8Array(6), true]) {
      expect(refused(signRaw([w[0], w[1], [bad, null], ...w.slice(3)])).field).toBe('link.localMac');
      expect(refused(signRaw([w[0], w[1], [0x020000000001, bad], ...w.slice(3)])).field).toBe('link.peerMac');
    }
    // MAC bytes survive the 48-bit round trip exactly.
    const c = T();
    c.link.localMac = new Uint8Array([0xfe, 0xff, 0xff, 0xff, 0xff, 0xfe]);
    c.link.peerMac = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    const back = decodeCheckpoint(encodeCheckpoint(c, { key: KEY }), { key: KEY }) as TcpCheckpoint;
    expect([...back.link.localMac]).toEqual([0xfe, 0xff, 0xff, 0xff, 0xff, 0xfe]);
    expect([...back.link.peerMac!]).toEqual([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
  });
  it('ip', () => {
    check(T, (c) => (c.ip.localAddress = 2 ** 32), 'ip.localAddress', /uint32/);
    check(T, (c) => (c.ip.remoteAddress = -1), 'ip.remoteAddress', /uint32/);
    check(T, (c) => (c.ip.remoteAddress = 0), 'ip.remoteAddress', /remote address/);
    check(T, (c) => (c.ip.localAddress = 0), 'ip.localAddress', /concrete local address/);
    check(T, (c) => (c.ip.remoteAddress = 0xe0000001), 'ip.remoteAddress', /unicast/);
    check(T, (c) => (c.ip.localAddress = 0xffffffff), 'ip.localAddress', /unicast/);
    check(T, (c) => (c.ip.ttl = 0), 'ip.ttl', /1\.\.255/);
    check(T, (c) => (c.ip.tos = 256), 'ip.tos', /0\.\.255/);
  });
});

describe('tcp fields', () => {
  it('state: only synchronized, live states', () => {
    for (const s of ['LISTEN', 'SYN_SENT', 'SYN_RECEIVED', 'TIME_WAIT', 'CLOSED', 'established', 42]) {
      check(T, (c) => (c.tcp.state = s as never), 'tcp.state', /not a checkpointable state/);
    }
  });
  it('ports 1..65535', () => {
    check(T, (c) => (c.tcp.localPort = 0), 'tcp.localPort', /1\.\.65535/);
    check(T, (c) => (c.tcp.remotePort = 65536), 'tcp.remotePort', /1\.\.65535/);
    check(T, (c) => (c.tcp.remotePort = 80.5), 'tcp.remotePort');
  });
  it('sequence numbers are uint32', () => {
    for (const f of ['iss', 'irs', 'sndUna', 'sndNxt', 'sndMax', 'sndWl1', 'sndWl2', 'rcvNxt', 'tsOffset', 'tsRecent', 'tsLastSent'] as const) {
      for (const v of [-1, 2 ** 32, 1.5, NaN, '1']) check(T, (c) => ((c.tcp as unknown as Record<string, unknown>)[f] = v), `tcp.${f}`, /uint32/);
    }
  });
  it('window scale 0..14, MSS 1..65535, windows bounded', () => {
    check(T, (c) => (c.tcp.sndWscale = 15), 'tcp.sndWscale', /0\.\.14/);
    check(T, (c) => (c.tcp.rcvWscale = -1), 'tcp.rcvWscale', /0\.\.14/);
    check(T, (c) => (c.tcp.sndMss = 0), 'tcp.sndMss', /1\.\.65535/);
    check(T, (c) => (c.tcp.rcvMss = 65536), 'tcp.rcvMss', /1\.\.65535/);
    check(T, (c) => (c.tcp.sndWnd = 2 ** 30 + 1), 'tcp.sndWnd');
    check(T, (c) => ((c.tcp.sndWscale = 0), (c.tcp.sndWnd = 65536)), 'tcp.sndWnd', /65535 << sndWscale/);
    check(T, (c) => (c.tcp.rcvWnd = -5), 'tcp.rcvWnd');
  });
  it('flags and times', () => {
    check(T, (c) => (c.tcp.sackPermitted = 1 as never), 'tcp.sackPermitted', /boolean/);
    check(T, (c) => (c.tcp.timestamps = null as never), 'tcp.timestamps', /boolean/);
    check(T, (c) => (c.tcp.tsRecentAge = -1), 'tcp.tsRecentAge');
    check(T, (c) => (c.tcp.timers.rtx = 2 ** 31 + 1), 'tcp.timers.rtx');
    check(T, (c) => (c.tcp.timers.persist = Infinity), 'tcp.timers.persist');
  });
  it('sequence order: SND.UNA ≤ SND.NXT ≤ SND.MAX, nothing in flight beyond the queue', () => {
    check(T, (c) => (c.tcp.sndNxt = (c.tcp.sndUna - 1) >>> 0), 'tcp.sndNxt', /\[sndUna, sndMax\]/);
    check(T, (c) => (c.tcp.sndMax = (c.tcp.sndNxt - 1) >>> 0), 'tcp.sndNxt');
    check(T, (c) => (c.tcp.sndMax = c.tcp.sndNxt = (c.tcp.sndUna + c.tcp.sendLength + 1) >>> 0), 'tcp.sndMax', /in flight/);
  });
  it('FIN bookkeeping matches the state', () => {
    check(T, (c) => (c.tcp.finReceived = true), 'tcp.finReceived', /contradicts state ESTABLISHED/);
    check(T, (c) => (c.tcp.finSent = true), 'tcp.finSent', /no FIN/);
    check(T, (c) => (c.tcp.finSeq = 5), 'tcp.finSeq', /must be null/);
    check(F, (c) => (c.tcp.finSeq = null), 'tcp.finSeq', /required in state FIN_WAIT_1/);
    check(F, (c) => (c.tcp.finSeq = (c.tcp.finSeq as number) + 1), 'tcp.finSeq', /sndUna \+ sendLength/);
    check(F, (c) => (c.tcp.sndMax = c.tcp.sndNxt = (c.tcp.sndMax - 1) >>> 0), 'tcp.sndMax', /finSeq \+ 1/);
    check(F, (c) => (c.tcp.state = 'CLOSE_WAIT'), 'tcp.finReceived');
    check(F, (c) => (c.tcp.state = 'FIN_WAIT_2'), 'tcp.finSeq', /FIN_WAIT_2/);
    check(F, (c) => ((c.tcp.state = 'LAST_ACK'), (c.tcp.finReceived = false)), 'tcp.finReceived');
    // A valid FIN_WAIT_2 and a valid LAST_ACK with the FIN still queued pass.
    const fw2 = F();
    Object.assign(fw2.tcp, { state: 'FIN_WAIT_2', sndUna: fw2.tcp.sndMax, sndNxt: fw2.tcp.sndMax, sendLength: 0, sendRanges: [] });
    expect(validateCheckpoint(fw2)).toBe(fw2);
    const la = F();
    Object.assign(la.tcp, { state: 'LAST_ACK', finSent: false, finReceived: true, recvOutOfOrder: [], sndNxt: la.tcp.sndUna + 100, sndMax: la.tcp.sndUna + 100 });
    expect(validateCheckpoint(la)).toBe(la);
  });
  it('congestion state', () => {
    check(T, (c) => (c.tcp.cc.algorithm = 'bbr' as never), 'tcp.cc.algorithm');
    check(T, (c) => (c.tcp.cc.rto = 0), 'tcp.cc.rto', /> 0/);
    check(T, (c) => (c.tcp.cc.cwnd = -1), 'tcp.cc.cwnd');
    check(T, (c) => (c.tcp.cc.ssthresh = NaN), 'tcp.cc.ssthresh');
    check(T, (c) => (c.tcp.cc.recover = 2 ** 32), 'tcp.cc.recover');
    // A CUBIC block under NewReno is allowed (the engine keeps the state either way).
    const nr = T();
    nr.tcp.cc.algorithm = 'newreno';
    expect(validateCheckpoint(nr)).toBe(nr);
    check(T, (c) => (c.tcp.cc.cubic!.epochStart = 2 ** 32), 'tcp.cc.cubic.epochStart');
    check(T, (c) => (c.tcp.cc.cubic!.k = -1), 'tcp.cc.cubic.k');
  });
  it('options', () => {
    check(T, (c) => (c.tcp.options.keepAliveProbes = -1), 'tcp.options.keepAliveProbes');
    check(T, (c) => (c.tcp.options.noDelay = 'yes' as never), 'tcp.options.noDelay');
    check(T, (c) => (c.tcp.options.sendBufferSize = 0), 'tcp.options.sendBufferSize');
  });
});

describe('tcp buffers and object maps', () => {
  it('buffer sizes are bounded', () => {
    check(F, () => undefined, 'tcp.sendLength', /integer in 0\.\.4096/, { limits: { maxBufferBytes: 4096 } });
    const smallQueue = (c: TcpCheckpoint) => {
      c.tcp.sendLength = 100;
      c.tcp.sndNxt = c.tcp.sndMax = (c.tcp.sndUna + 100) >>> 0;
    };
    check(T, (c) => (smallQueue(c), (c.tcp.recvBuffer = new Uint8Array(5000))), 'tcp.recvBuffer', /0\.\.4096 bytes/, { limits: { maxBufferBytes: 4096 } });
    check(F, (c) => (c.tcp.recvOutOfOrder = [{ seq: c.tcp.rcvNxt + 1, data: new Uint8Array(2600) }, { seq: c.tcp.rcvNxt + 3000, data: new Uint8Array(2600) }]), 'tcp.recvOutOfOrder', /holds 5200 bytes, more than 5000/, { limits: { maxBufferBytes: 5000 } });
    check(T, (c) => (c.tcp.recvBuffer = [1, 2] as never), 'tcp.recvBuffer');
  });
  it('send ranges: inside the queue, sorted, non-overlapping, non-empty', () => {
    check(F, (c) => (c.tcp.sendRanges[0].seq = c.tcp.sndUna - 1), 'tcp.sendRanges[0].seq', /outside/);
    check(F, (c) => c.tcp.sendRanges.push({ seq: c.tcp.sndUna + 10, data: new Uint8Array(1) }), 'tcp.sendRanges[1].seq', /overlap/);
    check(F, (c) => (c.tcp.sendRanges = [{ seq: c.tcp.sndUna, data: new Uint8Array(5001) }]), 'tcp.sendRanges[0]', /beyond/);
    check(F, (c) => (c.tcp.sendRanges = [{ seq: c.tcp.sndUna, data: new Uint8Array(0) }]), 'tcp.sendRanges[0].data');
    check(F, (c) => (c.tcp.sendRanges = [{ seq: c.tcp.sndUna, data: new Uint8Array(4000) }]), 'tcp.sendRanges', /sndUna\+4000 .* neither literal nor object-mapped/);
  });
  it('object map: every queued byte covered, refs sorted, no acknowledged-only refs', () => {
    check(T, (c) => (c.app!.objects[0].length -= 1), 'tcp.sendRanges', /neither literal nor object-mapped/);
    check(T, (c) => (c.app!.objects[0].seq = (c.tcp.sndUna + 1) >>> 0), 'tcp.sendRanges', /sndUna\+0 /);
    check(T, (c) => (c.app!.objects[0] = { id: 'old', seq: (c.tcp.sndUna - 100) >>> 0, offset: 0, length: 100 }), 'app.objects[0]', /entirely before sndUna/);
    check(T, (c) => c.app!.objects.push({ id: 'x', seq: c.tcp.sndUna, offset: 0, length: 10 }), 'app.objects[1].seq', /overlap or are not sorted/);
    check(T, (c) => (c.app!.objects[0].length = 0), 'app.objects[0].length', /1\.\.2147483647/);
    check(T, (c) => (c.app!.objects[0].length = 2 ** 31), 'app.objects[0].length');
    check(T, (c) => (c.app!.objects[0].id = ''), 'app.objects[0].id');
    check(T, (c) => (c.app!.objects[0].offset = -1), 'app.objects[0].offset');
    check(T, (c) => (c.app!.objects[0].seq = 2 ** 32), 'app.objects[0].seq', /uint32/);
    check(T, (c) => (c.app!.objects = Array.from({ length: 5 }, (_, i) => ({ id: 'o', seq: c.tcp.sndUna + i * 10, offset: 0, length: 10 }))), 'app.objects', /too many/, { limits: { maxObjects: 4 } });
    // Literal prefix + mapped rest is fine (an HTTP header, then the file).
    const mixed = T();
    mixed.tcp.sendRanges = [{ seq: mixed.tcp.sndUna, data: new Uint8Array(300) }];
    mixed.app!.objects = [{ id: 'f', seq: (mixed.tcp.sndUna + 300) >>> 0, offset: 0, length: mixed.tcp.sendLength - 300 }];
    expect(validateCheckpoint(mixed)).toBe(mixed);
    expect(decodeCheckpoint(signRaw(toWire(mixed)), { key: KEY }).kind).toBe('tcp');
  });
  it('out-of-order data lies after RCV.NXT and never after a FIN', () => {
    check(F, (c) => (c.tcp.recvOutOfOrder![0].seq = c.tcp.rcvNxt), 'tcp.recvOutOfOrder[0].seq', /outside/);
    check(F, (c) => c.tcp.recvOutOfOrder!.push({ seq: c.tcp.rcvNxt + 1050, data: new Uint8Array(5) }), 'tcp.recvOutOfOrder[1].seq', /overlap/);
    check(F, (c) => (c.tcp.recvOutOfOrder![0].seq = c.tcp.rcvNxt + 2 ** 30), 'tcp.recvOutOfOrder[0].seq', /outside/);
    check(F, (c) => (c.tcp.recvOutOfOrder![0].seq = c.tcp.rcvNxt + 2 ** 30 - 10), 'tcp.recvOutOfOrder[0]', /beyond/);
    check(F, (c) => ((c.tcp.state = 'CLOSING'), (c.tcp.finReceived = true)), 'tcp.recvOutOfOrder', /FIN/);
    check(F, (c) => (c.tcp.recvOutOfOrder = Array.from({ length: 3 }, (_, i) => ({ seq: c.tcp.rcvNxt + 1 + i * 2, data: new Uint8Array(1) }))), 'tcp.recvOutOfOrder', /too many/, { limits: { maxRanges: 2 } });
  });
});

describe('udp', () => {
  const U = udp;
  it('ports, memberships, options', () => {
    check(U, (c) => (c.udp.localPort = 0), 'udp.localPort');
    check(U, (c) => (c.udp.remotePort = 0), 'udp.remotePort', /both be set/);
    check(U, (c) => (c.ip.remoteAddress = 0), 'udp.remotePort', /both be set/);
    check(U, (c) => (c.udp.multicast[0].group = 0x0a000001), 'udp.multicast[0].group', /224\.0\.0\.0\/4/);
    check(U, (c) => c.udp.multicast.push({ ...c.udp.multicast[0] }), 'udp.multicast[1]', /duplicate/);
    check(U, (c) => (c.udp.options.multicastTtl = 256), 'udp.options.multicastTtl');
    check(U, (c) => (c.udp.options.multicastInterface = -1), 'udp.options.multicastInterface');
    check(U, (c) => (c.app!.objects = [{ id: 'a', seq: 1, offset: 0, length: 1 }]), 'app.objects', /only for TCP/);
    // Unconnected, wildcard-bound socket is valid.
    const u = U();
    u.ip.localAddress = 0;
    u.ip.remoteAddress = 0;
    u.udp.remotePort = 0;
    expect(decodeCheckpoint(signRaw(toWire(u)), { key: KEY }).kind).toBe('udp');
  });
});

describe('app', () => {
  it('protocol and state', () => {
    check(T, (c) => (c.app!.protocol = ''), 'app.protocol');
    check(T, (c) => (c.app!.protocol = 'p'.repeat(65)), 'app.protocol');
    check(T, (c) => (c.app!.state = { when: new Date(0) } as never), 'app.state', /plain data, found Date/);
    let deep: Record<string, unknown> = {};
    const root = deep;
    for (let i = 0; i < 40; i++) deep = (deep.x = {}) as Record<string, unknown>;
    check(T, (c) => (c.app!.state = root as never), 'app.state', /deeper than 32/);
    check(T, (c) => (c.app!.state = Array.from({ length: 20 }, () => 1)), 'app.state', /more than 10 values/, { limits: { maxStateNodes: 10 } });
    // Values msgpack cannot carry as such (they would arrive as plain data) are refused by the
    // validator, which encodeCheckpoint runs first.
    const withSet = T();
    withSet.app!.state = new Set([1]) as never;
    expect(() => encodeCheckpoint(withSet, { key: KEY })).toThrow(/app\.state: .*found Set/);
    const withBig = T();
    withBig.app!.state = { n: 10n } as never;
    expect(() => validateCheckpoint(withBig)).toThrow(/found bigint/);
  });
});

describe('bundles', () => {
  const B = bundle;
  it('members, node ids, duplicates, nesting', () => {
    check(B, (c) => (c.members = []), 'members', /at least one/);
    check(B, (c) => (c.members[1].meta.nodeId = 'node-b'), 'members[1].meta.nodeId', /bundle node id/);
    check(B, (c) => c.members.push(c.members[0]), 'members[2].', /duplicate/);
    check(B, (c) => ((c.members[0] as TcpCheckpoint).tcp = { ...(c.members[0] as TcpCheckpoint).tcp, sndWscale: 99 } as never), 'members[0].tcp.sndWscale');
    check(B, (c) => (c.app!.objects = [{ id: 'a', seq: 1, offset: 0, length: 1 }]), 'app.objects', /member connection/);
    check(B, (c) => (c.members = Array.from({ length: 3 }, (_, i) => ({ ...(c.members[1] as UdpCheckpoint), udp: { ...(c.members[1] as UdpCheckpoint).udp, localPort: 1000 + i } }))), 'members', /too many/, { limits: { maxMembers: 2 } });
  });
  it('a nested bundle is refused', () => {
    const b = B();
    const wire = toWire(b) as unknown[];
    (wire[2] as unknown[]).push(toWire(B()));
    const e = refused(signRaw(wire));
    expect(e.field).toBe('members[2].kind');
    const obj = B() as BundleCheckpoint;
    obj.members.push(B() as never);
    expect(() => validateCheckpoint(obj)).toThrow(/members\[2\]\.kind/);
  });
});

describe('wire shape and unknown fields', () => {
  it('wrong tuple lengths, unknown kind codes and trailing junk are refused', () => {
    const w = toWire(T()) as unknown[];
    expect(refused(signRaw([...w, 'junk'])).field).toBe('body');
    expect(refused(signRaw([9, ...w.slice(1)])).field).toBe('kind');
    const t = [...(w[4] as unknown[]), 0];
    expect(refused(signRaw([...w.slice(0, 4), t, w[5]])).field).toBe('tcp');
    expect(refused(signRaw({ kind: 'tcp' })).field).toBe('body');
    expect(refused(signRaw('hello')).field).toBe('body');
    expect(refused(signRaw(null)).field).toBe('body');
  });
  it('the object-form validator refuses unknown keys at every level', () => {
    const withJunk = (f: (c: TcpCheckpoint) => void) => {
      const c = T();
      f(c);
      return c;
    };
    const cases: [TcpCheckpoint, string][] = [
      [withJunk((c) => ((c as unknown as Record<string, unknown>).extra = 1)), 'extra'],
      [withJunk((c) => ((c.meta as unknown as Record<string, unknown>).extra = 1)), 'meta.extra'],
      [withJunk((c) => ((c.tcp as unknown as Record<string, unknown>).sndUNA = 1)), 'tcp.sndUNA'],
      [withJunk((c) => ((c.tcp.cc as unknown as Record<string, unknown>).x = 1)), 'tcp.cc.x'],
      [withJunk((c) => ((c.tcp.timers as unknown as Record<string, unknown>).idle = 1)), 'tcp.timers.idle'],
      [withJunk((c) => ((c.tcp.options as unknown as Record<string, unknown>).nodelay = true)), 'tcp.options.nodelay'],
      [withJunk((c) => ((c.app!.objects[0] as unknown as Record<string, unknown>).sha = 'x')), 'app.objects[0].sha'],
    ];
    for (const [cp, field] of cases) {
      try {
        validateCheckpoint(cp);
        throw new Error(`accepted ${field}`);
      } catch (e) {
        expect((e as { field: string }).field).toBe(field);
        expect((e as { reason: string }).reason).toMatch(/^unknown (field|timer kind)$/);
      }
    }
    // A known optional key holding undefined is treated as absent.
    const c = T();
    (c.tcp as unknown as Record<string, unknown>).recvOutOfOrder = undefined;
    c.tcp.cc.recover = undefined;
    expect(validateCheckpoint(c)).toBe(c);
  });
  it('non-plain objects are refused', () => {
    class Meta {
      version = 1;
      nodeId = 'n';
      takenAt = 0;
      takenAtMono = 0;
    }
    const c = T();
    c.meta = new Meta();
    expect(() => validateCheckpoint(c)).toThrow(/meta: expected a plain object, got Meta/);
    expect(() => validateCheckpoint(null)).toThrow(/checkpoint: expected a plain object/);
    expect(() => validateCheckpoint([T()])).toThrow(/checkpoint: expected a plain object, got array/);
  });
});
