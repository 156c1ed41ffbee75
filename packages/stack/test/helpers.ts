import { MemoryNetwork, Stack, VirtualClock, type MemoryNetworkOptions, type StackOptions } from '@hastack/stack';

/** Run the virtual clock until `p` settles (or maxMs of virtual time pass). */
export async function settle<T>(clock: VirtualClock, p: Promise<T>, maxMs = 60_000): Promise<T> {
  let done = false;
  p.then(
    () => (done = true),
    () => (done = true),
  );
  await clock.run(() => done, { maxMs });
  return p;
}

/** Outcome of a promise as a value: the resolved value or the error code. */
export async function outcome<T>(clock: VirtualClock, p: Promise<T>, maxMs = 60_000): Promise<{ ok: true; value: T } | { ok: false; code: string }> {
  try {
    return { ok: true, value: await settle(clock, p, maxMs) };
  } catch (e) {
    return { ok: false, code: (e as { code?: string }).code ?? String(e) };
  }
}

export interface Lan {
  clock: VirtualClock;
  net: MemoryNetwork;
  stacks: Stack[];
}

/** n stacks 198.18.0.1..n/24 on one MemoryNetwork with a VirtualClock. */
export function lan(n: number, netOpts: Omit<MemoryNetworkOptions, 'clock'> = {}, stackOpts: Partial<StackOptions> = {}): Lan {
  const clock = new VirtualClock();
  const net = new MemoryNetwork({ seed: 1, ...netOpts, clock });
  const stacks: Stack[] = [];
  for (let i = 1; i <= n; i++) stacks.push(new Stack({ link: net.createPort(), address: `198.18.0.${i}/24`, clock, ...stackOpts }));
  return { clock, net, stacks };
}

/** Sum of receive-side drop counters (keys not starting with 'tx'). */
export function rxDrops(drops: Record<string, number>, prefixes: string[]): number {
  let n = 0;
  for (const [k, v] of Object.entries(drops)) if (prefixes.some((p) => k.startsWith(p))) n += v;
  return n;
}
