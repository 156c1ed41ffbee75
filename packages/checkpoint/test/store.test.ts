import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  connectionKey,
  decodeCheckpoint,
  encodeCheckpoint,
  FileCheckpointStore,
  loadCheckpoint,
  MemoryCheckpointStore,
  saveCheckpoint,
  type CheckpointStore,
} from '@hastack/checkpoint';
import { HastackError, type TcpCheckpoint } from '@hastack/stack';
import { bundle, KEY, tcpFull, tcpObjectMapped, udp } from './fixtures.js';

const meta = (nodeId: string, takenAt = 1) => ({ nodeId, takenAt });
const bytes = (n: number, v = 1) => new Uint8Array(n).fill(v);

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(HastackError);
    return (e as HastackError).code;
  }
  return 'resolved';
}

/** Behaviour both stores share. */
function contract(name: string, make: () => Promise<CheckpointStore>): void {
  describe(`${name}: CheckpointStore contract`, () => {
    it('put/get/delete/list/deleteNode', async () => {
      const s = await make();
      await s.put('tcp:1.2.3.4:80-5.6.7.8:1000', bytes(10, 1), meta('a', 5));
      await s.put('tcp:1.2.3.4:80-5.6.7.8:1001', bytes(20, 2), meta('a', 6));
      await s.put('udp:0.0.0.0:5004-*', bytes(30, 3), meta('b', 7));
      expect(await s.get('tcp:1.2.3.4:80-5.6.7.8:1001')).toEqual(bytes(20, 2));
      expect(await s.get('nope')).toBeUndefined();
      expect((await s.list()).map((e) => e.key)).toEqual(['tcp:1.2.3.4:80-5.6.7.8:1000', 'tcp:1.2.3.4:80-5.6.7.8:1001', 'udp:0.0.0.0:5004-*']);
      expect(await s.list({ nodeId: 'b' })).toEqual([{ key: 'udp:0.0.0.0:5004-*', nodeId: 'b', takenAt: 7, size: 30 }]);
      // Replace keeps one entry.
      await s.put('udp:0.0.0.0:5004-*', bytes(31, 4), meta('b', 8));
      expect(await s.list({ nodeId: 'b' })).toEqual([{ key: 'udp:0.0.0.0:5004-*', nodeId: 'b', takenAt: 8, size: 31 }]);
      expect(await s.delete('udp:0.0.0.0:5004-*')).toBe(true);
      expect(await s.delete('udp:0.0.0.0:5004-*')).toBe(false);
      expect(await s.deleteNode('a')).toBe(2);
      expect(await s.list()).toEqual([]);
    });
    it('stored bytes are isolated from the caller buffers', async () => {
      const s = await make();
      const b = bytes(8, 9);
      await s.put('k', b, meta('a'));
      b.fill(0);
      const got = (await s.get('k'))!;
      expect(got).toEqual(bytes(8, 9));
      got.fill(1);
      expect(await s.get('k')).toEqual(bytes(8, 9));
    });
    it('keys with odd characters stay distinct', async () => {
      const s = await make();
      const keys = ['a/b', 'a%2Fb', '..', '.', '*', 'x:y-z', 'ü', 'L'.repeat(512), '/'.repeat(512), '/'.repeat(511)];
      for (const [i, k] of keys.entries()) await s.put(k, bytes(1, i), meta('n'));
      for (const [i, k] of keys.entries()) expect(await s.get(k)).toEqual(bytes(1, i));
      expect((await s.list()).length).toBe(keys.length);
    });
    it('argument checks', async () => {
      const s = await make();
      expect(await code(s.put('', bytes(1), meta('a')))).toBe('ERR_INVALID_ARG_VALUE');
      expect(await code(s.put('k', 'x' as never, meta('a')))).toBe('ERR_INVALID_ARG_TYPE');
      expect(await code(s.put('k', bytes(1), { nodeId: '', takenAt: 1 }))).toBe('ERR_INVALID_ARG_VALUE');
      expect(await code(s.put('k', bytes(1), { nodeId: 'a', takenAt: NaN }))).toBe('ERR_INVALID_ARG_VALUE');
      expect(await code(s.get(5 as never))).toBe('ERR_INVALID_ARG_TYPE');
    });
    it('saveCheckpoint/loadCheckpoint round-trip signed checkpoints of every kind', async () => {
      const s = await make();
      for (const cp of [tcpFull(), tcpObjectMapped(), udp(), bundle()]) {
        const key = await saveCheckpoint(s, cp, { key: KEY });
        expect(key).toBe(connectionKey(cp));
        const back = await loadCheckpoint(s, key, { key: KEY });
        expect(back?.kind).toBe(cp.kind);
        expect(connectionKey(back!)).toBe(key);
      }
      expect((await s.list({ nodeId: 'node-a' })).length).toBe(4);
      expect(await loadCheckpoint(s, 'missing', { key: KEY })).toBeUndefined();
      // A tampered stored entry is refused at load.
      const k = connectionKey(udp());
      const raw = (await s.get(k))!;
      raw[10] ^= 1;
      await s.put(k, raw, meta('node-a'));
      expect(await code(loadCheckpoint(s, k, { key: KEY }))).toBe('ERR_CHECKPOINT_INVALID');
    });
  });
}

contract('MemoryCheckpointStore', async () => new MemoryCheckpointStore());

describe('MemoryCheckpointStore bounds', () => {
  it('refuses with ENOBUFS when entries or bytes would exceed the limits, unchanged', async () => {
    const s = new MemoryCheckpointStore({ maxEntries: 2, maxBytes: 100 });
    await s.put('a', bytes(40), meta('n', 1));
    await s.put('b', bytes(40), meta('n', 2));
    expect(await code(s.put('c', bytes(1), meta('n', 3)))).toBe('ENOBUFS');
    expect(await code(s.put('a', bytes(61), meta('n', 3)))).toBe('ENOBUFS'); // 61 + 40 > 100
    expect(await code(s.put('z', bytes(101), meta('n', 3)))).toBe('ENOBUFS');
    expect(s.size).toBe(2);
    expect(s.bytes).toBe(80);
    expect(await s.get('a')).toEqual(bytes(40));
    // Replacing within the byte budget is fine and not a new entry.
    await s.put('a', bytes(60), meta('n', 4));
    expect(s.bytes).toBe(100);
    await s.delete('b');
    expect(s.bytes).toBe(60);
    await s.put('c', bytes(40), meta('n', 5));
    expect(s.size).toBe(2);
  });
  it("onFull 'evict-oldest' evicts by takenAt, never the key being written", async () => {
    const s = new MemoryCheckpointStore({ maxEntries: 3, maxBytes: 1000, onFull: 'evict-oldest' });
    await s.put('old', bytes(10), meta('n', 1));
    await s.put('mid', bytes(10), meta('n', 2));
    await s.put('new', bytes(10), meta('n', 3));
    await s.put('newest', bytes(10), meta('n', 4));
    expect((await s.list()).map((e) => e.key).sort()).toEqual(['mid', 'new', 'newest']);
    await s.put('big', bytes(990), meta('n', 5)); // needs every other entry gone
    // 30 + 990 > 1000: the two oldest go, 'newest' still fits beside 'big'.
    expect((await s.list()).map((e) => e.key)).toEqual(['big', 'newest']);
    expect(s.bytes).toBe(1000);
  });
  it('validates its options', () => {
    expect(() => new MemoryCheckpointStore({ maxEntries: 0 })).toThrow(/maxEntries/);
    expect(() => new MemoryCheckpointStore({ maxBytes: 1.5 })).toThrow(/maxBytes/);
    expect(() => new MemoryCheckpointStore({ onFull: 'drop' as never })).toThrow(/onFull/);
  });
});

describe('FileCheckpointStore', () => {
  let root: string;
  let n = 0;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'hastack-ckpt-'));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });
  const fresh = async () => new FileCheckpointStore(join(root, `s${n++}`));

  contract('FileCheckpointStore', fresh);

  it('an empty or missing directory lists nothing', async () => {
    const s = await fresh();
    expect(await s.list()).toEqual([]);
    expect(await s.get('k')).toBeUndefined();
    expect(await s.delete('k')).toBe(false);
  });

  it('writes atomically: concurrent rewriters never expose a torn entry, no temp files remain', async () => {
    const s = new FileCheckpointStore(join(root, 'atomic'), { fsync: false });
    const base = tcpFull();
    const versions = Array.from({ length: 12 }, (_, i) => {
      const cp = structuredClone(base) as TcpCheckpoint;
      cp.meta.takenAt += i;
      // Different sizes, so a torn write could not masquerade as a whole one.
      cp.tcp.recvBuffer = new Uint8Array(1000 + i * 3000).fill(i);
      return encodeCheckpoint(cp, { key: KEY });
    });
    const key = connectionKey(base);
    await s.put(key, versions[0], meta('node-a'));
    let reads = 0;
    let writing = true;
    const reader = (async () => {
      while (writing) {
        const b = await s.get(key);
        expect(b).toBeDefined();
        // Every observed entry is exactly one of the written versions and verifies.
        const cp = decodeCheckpoint(b!, { key: KEY }) as TcpCheckpoint;
        expect(Buffer.compare(b!, versions[cp.meta.takenAt - base.meta.takenAt])).toBe(0);
        reads++;
      }
    })();
    for (let round = 0; round < 4; round++) await Promise.all(versions.map((v) => s.put(key, v, meta('node-a'))));
    writing = false;
    await reader;
    expect(reads).toBeGreaterThan(0);
    const names = await readdir(join(root, 'atomic'));
    expect(names.filter((f) => f.startsWith('.tmp-'))).toEqual([]);
    expect(names.length).toBe(1);
  });

  it('ignores leftovers of a crashed writer and foreign files', async () => {
    const dir = join(root, 'crash');
    const s = new FileCheckpointStore(dir);
    await s.put('k', bytes(5, 5), meta('a'));
    await writeFile(join(dir, '.tmp-999-deadbeef'), Buffer.from('HSCS half-written'));
    await writeFile(join(dir, 'junk.ckpt'), Buffer.from('not a store file'));
    await writeFile(join(dir, 'README'), 'hello');
    expect((await s.list()).map((e) => e.key)).toEqual(['k']);
    expect(await s.get('k')).toEqual(bytes(5, 5));
  });

  it('bounds entry size', async () => {
    const s = new FileCheckpointStore(join(root, 'bounded'), { maxEntryBytes: 10 });
    expect(await code(s.put('k', bytes(11), meta('a')))).toBe('ENOBUFS');
    await s.put('k', bytes(10), meta('a'));
    expect((await s.get('k'))!.length).toBe(10);
  });
});
