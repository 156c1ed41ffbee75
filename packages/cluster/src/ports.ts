/**
 * Port ranges. A set of ports is a sorted list of disjoint, non-adjacent inclusive ranges
 * (`[{from: 1, to: 79}, {from: 81, to: 65535}]`). Every function returns a new normalised list.
 */

/** An inclusive range of ports, `from <= to`, both in 0..65535. */
export interface PortRange {
  from: number;
  to: number;
}

/** Every port. */
export const ALL_PORTS: readonly PortRange[] = Object.freeze([{ from: 0, to: 65535 }]);

/** True when `r` is a well-formed range. */
export function isPortRange(r: unknown): r is PortRange {
  if (typeof r !== 'object' || r === null) return false;
  const { from, to } = r as PortRange;
  return Number.isInteger(from) && Number.isInteger(to) && from >= 0 && to <= 65535 && from <= to;
}

/** Sort and merge overlapping or adjacent ranges. */
export function normalizePorts(ranges: readonly PortRange[]): PortRange[] {
  const sorted = ranges.map((r) => ({ from: r.from, to: r.to })).sort((a, b) => a.from - b.from);
  const out: PortRange[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && r.from <= last.to + 1) last.to = Math.max(last.to, r.to);
    else out.push(r);
  }
  return out;
}

/** Ports in both sets. */
export function intersectPorts(a: readonly PortRange[], b: readonly PortRange[]): PortRange[] {
  const out: PortRange[] = [];
  for (const x of a) {
    for (const y of b) {
      const from = Math.max(x.from, y.from);
      const to = Math.min(x.to, y.to);
      if (from <= to) out.push({ from, to });
    }
  }
  return normalizePorts(out);
}

/** Ports in `a` but not in `b`. */
export function subtractPorts(a: readonly PortRange[], b: readonly PortRange[]): PortRange[] {
  let cur = normalizePorts(a);
  for (const y of b) {
    const next: PortRange[] = [];
    for (const x of cur) {
      if (y.to < x.from || y.from > x.to) {
        next.push(x);
        continue;
      }
      if (x.from < y.from) next.push({ from: x.from, to: y.from - 1 });
      if (x.to > y.to) next.push({ from: y.to + 1, to: x.to });
    }
    cur = next;
  }
  return cur;
}

/** Union of two sets. */
export function unionPorts(a: readonly PortRange[], b: readonly PortRange[]): PortRange[] {
  return normalizePorts([...a, ...b]);
}

/** True when the sets share a port. */
export function portsOverlap(a: readonly PortRange[], b: readonly PortRange[]): boolean {
  for (const x of a) for (const y of b) if (x.from <= y.to && y.from <= x.to) return true;
  return false;
}

/** True when `port` is in the set. */
export function portInRanges(port: number, ranges: readonly PortRange[]): boolean {
  for (const r of ranges) if (port >= r.from && port <= r.to) return true;
  return false;
}

/** True when both sets hold the same ports. */
export function portsEqual(a: readonly PortRange[], b: readonly PortRange[]): boolean {
  const x = normalizePorts(a);
  const y = normalizePorts(b);
  return x.length === y.length && x.every((r, i) => r.from === y[i].from && r.to === y[i].to);
}
