/**
 * Checkpoint → crash → restore on a fresh stack with the same MAC/IP (seed 003; issue 5):
 * transfers in each direction finish with the same SHA-256, in full and object-mapped modes,
 * under loss and reordering, with timestamps on and off, from every checkpointable state.
 */
import { describe, it, expect } from 'vitest';
import { seqGe } from '@hastack/wire';
import { engineConnOf } from '@hastack/stack';
import { runScenario, type ScenarioOptions } from './checkpoint-harness.js';

const SMALL_BUF = 128 << 10;

async function expectTakeover(o: ScenarioOptions, state: string) {
  const r = await runScenario(o);
  expect(r.stateAtCheckpoint).toBe(state);
  expect(r.cp.tcp.state).toBe(state);
  expect(r.errors).toEqual([]);
  expect(r.readyAt).toBeGreaterThan(0);
  expect(r.downOk).toBe(true);
  expect(r.upOk).toBe(true);
  expect(r.clientEnded).toBe(true);
  return r;
}

describe('checkpoint restore: ESTABLISHED transfers', () => {
  for (const mode of ['full', 'mapped'] as const) {
    it(`download, ${mode} mode`, async () => {
      const r = await expectTakeover({ down: 1 << 20, up: 0, mode, clientEndsEarly: false, sendBufferSize: SMALL_BUF, when: (s) => s.clientGot > 300_000 }, 'ESTABLISHED');
      if (mode === 'full') {
        expect(r.cp.tcp.sendRanges.length).toBeGreaterThan(0);
      } else {
        // Object-mapped: one ref, no payload bytes at all.
        expect(r.cp.app!.objects).toHaveLength(1);
        expect(r.cp.tcp.sendRanges).toEqual([]);
        expect(r.cp.tcp.sendLength).toBeGreaterThan(0);
      }
    });
    it(`upload, ${mode} mode (unread received bytes travel in the checkpoint)`, async () => {
      const r = await expectTakeover({ down: 0, up: 1 << 20, mode, serverWaitsForPeerEnd: true, when: (s) => s.serverGot > 400_000 }, 'ESTABLISHED');
      expect(r.cp.tcp.sendLength).toBe(0);
    });
  }

  it('data in flight both ways at the checkpoint (mapped)', async () => {
    const r = await expectTakeover(
      { down: 1 << 20, up: 1 << 20, mode: 'mapped', clientEndsEarly: false, sendBufferSize: SMALL_BUF, when: (s) => s.clientGot > 200_000 && s.serverGot > 200_000 && s.clientGot < 900_000 },
      'ESTABLISHED',
    );
    const t = r.cp.tcp;
    expect(((t.sndMax - t.sndUna) >>> 0) > 0).toBe(true); // our bytes in flight
    expect(r.cp.tcp.rcvNxt).not.toBe(r.cp.tcp.irs + 1);
  });

  it('timestamps off, SACK off', async () => {
    const r = await expectTakeover({ down: 512 << 10, up: 256 << 10, mode: 'full', timestamps: false, sack: false, clientEndsEarly: false, sendBufferSize: SMALL_BUF, when: (s) => s.clientGot > 100_000 }, 'ESTABLISHED');
    expect(r.cp.tcp.timestamps).toBe(false);
  });

  for (const mode of ['full', 'mapped'] as const) {
    it(`2% loss, reordering and jitter, ${mode} mode`, async () => {
      await expectTakeover(
        { down: 1 << 20, up: 256 << 10, mode, clientEndsEarly: false, sendBufferSize: SMALL_BUF, net: { loss: 0.02, reorder: 0.05, jitterMs: 2 }, seed: 11, when: (s) => s.clientGot > 400_000 },
        'ESTABLISHED',
      );
    });
  }

  it('TSval never goes backwards across the restore (PAWS)', async () => {
    let tsAtRestore = -1;
    const r = await runScenario({ down: 256 << 10, up: 64 << 10, mode: 'full', clientEndsEarly: false, sendBufferSize: SMALL_BUF, gapMs: 2000, when: (s) => s.clientGot > 50_000 });
    expect(r.downOk && r.upOk).toBe(true);
    const t = engineConnOf(r.restored)?.tcb;
    // Whatever TSval B sends now is at or above the last one A sent (mod 2^32).
    if (t) tsAtRestore = (Math.floor(r.clock.now()) + t.tsOffset) >>> 0;
    else tsAtRestore = r.cp.tcp.tsLastSent; // already closed: the client's counters below still judge it
    expect(seqGe(tsAtRestore, r.cp.tcp.tsLastSent)).toBe(true);
    // The client's PAWS test (RFC 7323 §5.3) dropped nothing from the restored host.
    expect(r.clientStack.stats().tcp.drops.paws).toBe(0);
  });
});

describe('checkpoint restore: every supported state', () => {
  it('CLOSE_WAIT (peer finished its upload), then LAST_ACK after the download', async () => {
    await expectTakeover({ down: 512 << 10, up: 64 << 10, mode: 'mapped', sendBufferSize: SMALL_BUF, when: (s) => s.server!.tcpState === 'CLOSE_WAIT' && s.clientGot > 100_000 }, 'CLOSE_WAIT');
  });
  it('LAST_ACK with data and FIN unacknowledged', async () => {
    await expectTakeover({ down: 256 << 10, up: 16 << 10, mode: 'full', sendBufferSize: SMALL_BUF, when: (s) => s.server!.tcpState === 'LAST_ACK' && s.clientGot < 256 << 10 }, 'LAST_ACK');
  });
  it('FIN_WAIT_1 with data queued behind the FIN', async () => {
    await expectTakeover({ down: 512 << 10, up: 0, mode: 'mapped', clientEndsEarly: false, when: (s) => s.server!.tcpState === 'FIN_WAIT_1' && s.clientGot > 50_000 && s.clientGot < 400_000 }, 'FIN_WAIT_1');
  });
  it('end() called while data still waits in the Writable: captured as FIN_WAIT_1, the FIN follows the data', async () => {
    const r = await runScenario({ down: 768 << 10, up: 0, mode: 'mapped', clientEndsEarly: false, sendBufferSize: 64 << 10, serverEndsEagerly: true, net: { rateMbps: 20 }, when: (s) => s.serverEnded && s.server!.tcpState === 'ESTABLISHED' && s.clientGot > 50_000 });
    expect(r.stateAtCheckpoint).toBe('ESTABLISHED');
    expect(r.cp.tcp.state).toBe('FIN_WAIT_1');
    expect(r.cp.tcp.finSeq).toBe((r.cp.tcp.sndUna + r.cp.tcp.sendLength) >>> 0);
    expect(r.errors).toEqual([]);
    expect(r.downOk).toBe(true);
    expect(r.clientEnded).toBe(true);
  });
  it('FIN_WAIT_2 while the peer is still uploading', async () => {
    await expectTakeover({ down: 64 << 10, up: 1 << 20, mode: 'full', clientEndsEarly: true, when: (s) => s.server!.tcpState === 'FIN_WAIT_2' && s.serverGot > 100_000 && s.serverGot < 700_000 }, 'FIN_WAIT_2');
  });
  it('CLOSING (simultaneous close, both FINs unacknowledged)', async () => {
    await expectTakeover({ down: 8 << 10, up: 8 << 10, mode: 'full', net: { delayMs: 5 }, when: (s) => s.server!.tcpState === 'CLOSING' }, 'CLOSING');
  });
});

describe('checkpoint restore: every supported state under 2% loss and reordering, timestamps off', () => {
  const L = { loss: 0.02, reorder: 0.03, jitterMs: 1 };
  const cases: [string, ScenarioOptions][] = [
    ['CLOSE_WAIT', { down: 512 << 10, up: 64 << 10, mode: 'full', sendBufferSize: SMALL_BUF, net: L, when: (s) => s.server!.tcpState === 'CLOSE_WAIT' && s.clientGot > 100_000 }],
    ['LAST_ACK', { down: 256 << 10, up: 16 << 10, mode: 'mapped', sendBufferSize: SMALL_BUF, net: L, when: (s) => s.server!.tcpState === 'LAST_ACK' && s.clientGot < 256 << 10 }],
    ['FIN_WAIT_1', { down: 512 << 10, up: 0, mode: 'full', clientEndsEarly: false, net: L, when: (s) => s.server!.tcpState === 'FIN_WAIT_1' && s.clientGot > 50_000 && s.clientGot < 400_000 }],
    ['FIN_WAIT_2', { down: 64 << 10, up: 1 << 20, mode: 'mapped', net: L, when: (s) => s.server!.tcpState === 'FIN_WAIT_2' && s.serverGot > 100_000 && s.serverGot < 700_000 }],
    ['CLOSING', { down: 8 << 10, up: 8 << 10, mode: 'mapped', net: { ...L, delayMs: 5 }, when: (s) => s.server!.tcpState === 'CLOSING' }],
  ];
  for (const [state, o] of cases) {
    it(state, async () => {
      await expectTakeover({ ...o, timestamps: false, seed: 3 }, state);
    });
  }
});

