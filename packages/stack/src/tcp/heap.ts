/**
 * A binary min-heap of (deadline, item) with lazy invalidation: the owner records, per item,
 * the deadline of its one valid entry; entries that no longer match are skipped when popped.
 * Pushing is O(log n); nothing ever scans all items (10,000 connections stay cheap).
 */
export class DeadlineHeap<T> {
  private at: number[] = [];
  private items: T[] = [];

  get size(): number {
    return this.at.length;
  }

  /** Earliest deadline in the heap (may belong to a stale entry), or Infinity. */
  peekAt(): number {
    return this.at.length > 0 ? this.at[0] : Infinity;
  }

  peekItem(): T | undefined {
    return this.items[0];
  }

  push(at: number, item: T): void {
    const a = this.at;
    const it = this.items;
    let i = a.length;
    a.push(at);
    it.push(item);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p] <= at) break;
      a[i] = a[p];
      it[i] = it[p];
      i = p;
    }
    a[i] = at;
    it[i] = item;
  }

  /** Remove the top entry and return its item. */
  pop(): T | undefined {
    const a = this.at;
    const it = this.items;
    if (a.length === 0) return undefined;
    const top = it[0];
    const lastAt = a.pop()!;
    const lastIt = it.pop()!;
    const n = a.length;
    if (n > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const c = r < n && a[r] < a[l] ? r : l;
        if (a[c] >= lastAt) break;
        a[i] = a[c];
        it[i] = it[c];
        i = c;
      }
      a[i] = lastAt;
      it[i] = lastIt;
    }
    return top;
  }

  clear(): void {
    this.at.length = 0;
    this.items.length = 0;
  }
}
