import { describe, expect, it } from 'vitest';
import { Harness, MAC_A, VIP } from './harness.js';

/**
 * Failure detection with fractional times (sub-millisecond link delays): every deadline the core
 * returns from pollAt() must be acted on when it fires, so time moves on. Before the fix the core
 * compared `now − lastHeard` with the threshold in floating point while the deadline was
 * `lastHeard + threshold`, so at that instant the difference could come out a hair short
 * (59.99999999999999) and pollAt() returned the same instant forever.
 */
describe('failure detection with fractional link delays', () => {
  for (const delayMs of [0.1, 0.3, 0.7, 1.37]) {
    it(`delay ${delayMs} ms: a crashed peer is declared dead and pollAt always moves past now`, () => {
      const h = new Harness(
        [
          { nodeId: 'A', home: [{ ip: VIP, mac: MAC_A }], failover: { successors: ['B', 'C'], failback: 'none' } },
          { nodeId: 'B', failover: { successors: ['C', 'A'] } },
          { nodeId: 'C', failover: { successors: ['A', 'B'] } },
        ],
        {},
        { delayMs },
      );
      const polls = new Map<string, number>();
      const stuck: string[] = [];
      for (const [id, n] of h.nodes) {
        const core = n.core;
        const poll = core.poll.bind(core);
        core.poll = (now: number) => {
          poll(now);
          const c = (polls.get(id) ?? 0) + 1;
          polls.set(id, c);
          // After a poll nothing may be due at `now` any more.
          if (core.pollAt() <= now && !stuck.includes(id)) stuck.push(id);
          // Safety net: a busy loop would never leave advanceSync(); stop the node instead.
          if (c > 20_000) n.close();
        };
      }
      h.startAll();
      h.advance(1000);
      h.crash('A');
      h.advance(1000);
      expect(stuck).toEqual([]);
      for (const id of ['B', 'C']) {
        expect(polls.get(id)!).toBeLessThan(1000); // ~2000 ms / 20 ms beats, a few detections
        expect(h.node(id).core.peerViews().find((p) => p.nodeId === 'A')!.status).toBe('dead');
      }
      expect(h.holders(VIP)).toEqual(['B']);
    });
  }
});
