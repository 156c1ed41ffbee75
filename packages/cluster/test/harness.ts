/** Test harness: N cluster nodes on one MemoryBus, driven by a VirtualClock. */
import { VirtualClock } from '@hastack/stack';
import { ClusterNode, MemoryBus, type ClusterAction, type ClusterNodeOptions, type MemoryBusOptions } from '@hastack/cluster';

export const KEY = new Uint8Array(32).fill(7);

export type NodeSpec = Partial<Omit<ClusterNodeOptions, 'transport' | 'clock' | 'key'>> & { nodeId: string };

export class Harness {
  readonly clock = new VirtualClock(0);
  readonly bus: MemoryBus;
  readonly nodes = new Map<string, ClusterNode>();
  readonly actions = new Map<string, ClusterAction[]>();
  private specs = new Map<string, NodeSpec>();

  constructor(
    specs: NodeSpec[],
    private readonly defaults: Partial<ClusterNodeOptions> = {},
    busOpts: MemoryBusOptions = {},
  ) {
    this.bus = new MemoryBus(this.clock, busOpts);
    for (const s of specs) {
      this.specs.set(s.nodeId, s);
      this.add(s, 1);
    }
  }

  add(spec: NodeSpec, bootId: number): ClusterNode {
    const node = new ClusterNode({
      heartbeatIntervalMs: 20,
      missedBeats: 3,
      ...this.defaults,
      ...spec,
      bootId,
      key: KEY,
      clock: this.clock,
      transport: this.bus.attach(spec.nodeId),
    });
    this.nodes.set(spec.nodeId, node);
    this.actions.set(spec.nodeId, []);
    node.on('action', (a: ClusterAction) => this.actions.get(spec.nodeId)!.push(a));
    return node;
  }

  node(id: string): ClusterNode {
    return this.nodes.get(id)!;
  }

  startAll(): void {
    for (const n of this.nodes.values()) n.start();
  }

  /** Advance virtual time, firing timers and deliveries. */
  advance(ms: number): void {
    this.clock.advanceSync(ms);
  }

  /** Crash: the node stops and its bus endpoint goes silent. */
  crash(id: string): void {
    this.node(id).close();
  }

  /** Restart a crashed node with a new boot id. */
  restart(id: string, bootId: number): ClusterNode {
    const n = this.add(this.specs.get(id)!, bootId);
    n.start();
    return n;
  }

  of<T extends ClusterAction['type']>(id: string, type: T): Extract<ClusterAction, { type: T }>[] {
    return this.actions.get(id)!.filter((a) => a.type === type) as Extract<ClusterAction, { type: T }>[];
  }

  /** Who holds `ip` port `port`, by every live node's table. */
  holders(ip: string, port = 80): string[] {
    const out = new Set<string>();
    for (const [id, n] of this.nodes) {
      if (n.core.lifecycle === 'stopped') continue;
      for (const h of n.core.ownershipInfo().held) {
        if (h.ip === ip && h.ports.some((r) => port >= r.from && port <= r.to)) out.add(id);
      }
    }
    return [...out].sort();
  }
}

export const MAC_A = '02:00:00:00:00:0a';
export const MAC_B = '02:00:00:00:00:0b';
export const MAC_C = '02:00:00:00:00:0c';
export const VIP = '198.18.0.10';
export const VIP2 = '198.18.0.11';
