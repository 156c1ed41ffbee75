/** Helpers shared by scenario modules: building measurements from samples. */
import { summarize } from './stats.mjs';

/** A measurement with hastack samples and optional reference samples. */
export function measurement({ id, name, unit, better, subject, reference = null, target = null, note }) {
  const m = {
    id,
    name,
    unit,
    better,
    subject: { label: subject.label, ...summarize(subject.samples) },
    reference: reference ? { label: reference.label, ...summarize(reference.samples) } : null,
    target,
  };
  if (note) m.note = note;
  return m;
}

export function skippedMeasurement({ id, name, unit, better, target = null }, reason) {
  return { id, name, unit, better, subject: null, reference: null, target, skipped: reason };
}

/** Collects samples per key while a scenario alternates its runs. */
export class Samples {
  constructor() {
    this.map = new Map();
    this.errors = new Map();
  }
  add(key, v) {
    if (!this.map.has(key)) this.map.set(key, []);
    this.map.get(key).push(v);
  }
  fail(key, e) {
    this.errors.set(key, String(e?.message ?? e).split('\n')[0].slice(0, 300));
  }
  get(key) {
    return this.map.get(key) ?? [];
  }
  has(key) {
    return this.get(key).length > 0;
  }
  error(key) {
    return this.errors.get(key) ?? 'no successful run';
  }
}
