// The harness's pure parts: statistics, wrk parsing, target evaluation, schema, markdown and SVG.
import { describe, expect, it } from 'vitest';
// @ts-expect-error plain ESM module without types
import { median, percentile, summarize, parseWrk, parseWrkDuration } from '../lib/stats.mjs';
// @ts-expect-error plain ESM module without types
import { evaluateTarget, fmt, renderMarkdown, renderPerformanceDoc, renderSvg, renderTable, SCHEMA, validateResult } from '../lib/report.mjs';
// @ts-expect-error plain ESM module without types
import { measurement, skippedMeasurement } from '../lib/scenario.mjs';

const WRK = `Running 3s test @ http://198.18.44.20:8080/small.html
  1 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     9.93ms   10.01ms  99.12ms   90.00%
    Req/Sec     1.49k   200.00     2.00k    70.00%
  Latency Distribution
     50%  812.00us
     75%    9.93ms
     90%   20.00ms
     99%    1.20s
  4443 requests in 3.00s, 1.02MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
Requests/sec:   1481.23
Transfer/sec:    340.00KB
`;

function sampleResult() {
  return {
    schema: SCHEMA,
    startedAt: '2026-11-22T08:00:00.000Z',
    finishedAt: '2026-11-22T08:02:00.000Z',
    durationS: 120,
    quick: true,
    reps: 3,
    command: 'npx -y pnpm@10.34.9 bench --quick',
    machine: { nproc: 2, cpuModel: 'Test CPU', kernel: '6.1.0', node: 'v20.0.0', memGiB: 8, root: true },
    scenarios: [
      {
        id: 'bulk-tcp',
        title: 'Bulk TCP',
        status: 'ok',
        notes: ['a note'],
        measurements: [
          measurement({ id: 'tap-tx-off', name: 'hastack → Linux <TAP>', unit: 'Gbit/s', better: 'higher', subject: { label: 'hastack', samples: [1, 3, 2] }, reference: { label: 'Linux', samples: [4, 4, 5] }, target: { kind: 'absolute', op: '>=', value: 2, text: '≥ 2 Gbit/s' } }),
          skippedMeasurement({ id: 'tap-rx-on', name: 'Linux → hastack', unit: 'Gbit/s', better: 'higher' }, 'not root'),
        ],
      },
      { id: 'failover', title: 'Failover', status: 'skipped', reason: 'Stack.restore() is not implemented', measurements: [], targets: ['stall ≤ 300 ms'] },
    ],
  };
}

describe('statistics', () => {
  it('median of odd and even counts ignores non-finite values', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([5, NaN, 1, Infinity, 3])).toBe(3);
    expect(median([])).toBeNaN();
  });
  it('percentile is nearest-rank', () => {
    const xs = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(xs, 50)).toBe(50);
    expect(percentile(xs, 99)).toBe(99);
    expect(percentile(xs, 100)).toBe(100);
    expect(percentile([7], 1)).toBe(7);
  });
  it('summarize gives median, min, max and spread', () => {
    const s = summarize([2, 4, 3]);
    expect(s).toMatchObject({ n: 3, median: 3, min: 2, max: 4 });
    expect(s.spread).toBeCloseTo(2 / 3);
  });
  it('parses wrk durations and --latency output', () => {
    expect(parseWrkDuration('812.00us')).toBeCloseTo(0.812);
    expect(parseWrkDuration('9.93ms')).toBeCloseTo(9.93);
    expect(parseWrkDuration('1.20s')).toBeCloseTo(1200);
    expect(parseWrkDuration('abc')).toBeNaN();
    const w = parseWrk(WRK);
    expect(w.rps).toBeCloseTo(1481.23);
    expect(w.p50Ms).toBeCloseTo(0.812);
    expect(w.p99Ms).toBeCloseTo(1200);
    expect(w.requests).toBe(4443);
    expect(w.errors).toBe(3);
  });
});

describe('targets', () => {
  const m = (median: number, target: object, ref?: number) => ({
    id: 'x',
    name: 'x',
    unit: 'Gbit/s',
    better: 'higher',
    subject: { label: 'h', samples: [median], median, n: 1 },
    reference: ref === undefined ? null : { label: 'r', samples: [ref], median: ref, n: 1 },
    target,
  });
  it('absolute >= : met says how far above, missed says how far short', () => {
    const ok = evaluateTarget(m(5, { kind: 'absolute', op: '>=', value: 4 }));
    expect(ok.met).toBe(true);
    expect(ok.text).toContain('25.0% above');
    const bad = evaluateTarget(m(1, { kind: 'absolute', op: '>=', value: 4 }));
    expect(bad.met).toBe(false);
    expect(bad.text).toContain('75.0% short');
    expect(bad.text).toContain('4.00× more');
  });
  it('absolute <= and ratio targets', () => {
    expect(evaluateTarget(m(20, { kind: 'absolute', op: '<=', value: 16 })).met).toBe(false);
    expect(evaluateTarget(m(20, { kind: 'absolute', op: '<=', value: 16 })).text).toContain('25.0% over the limit');
    const r = evaluateTarget(m(3, { kind: 'ratio', op: '<=', value: 2 }, 2));
    expect(r.met).toBe(true);
    expect(r.value).toBeCloseTo(1.5);
    expect(evaluateTarget(m(5, { kind: 'ratio', op: '<=', value: 2 }, 2)).met).toBe(false);
  });
  it('no target or a skipped measurement gives met = null', () => {
    expect(evaluateTarget(m(1, null as unknown as object)).met).toBeNull();
    expect(evaluateTarget({ ...m(1, { kind: 'absolute', op: '>=', value: 1 }), skipped: 'why' }).met).toBeNull();
  });
  it('fmt rounds to about three significant digits', () => {
    expect(fmt(12345.6)).toBe('12,346');
    expect(fmt(123.4)).toBe('123');
    expect(fmt(12.34)).toBe('12.3');
    expect(fmt(1.234)).toBe('1.23');
    expect(fmt(0.01234)).toBe('0.012');
    expect(fmt(NaN)).toBe('—');
  });
});

describe('result schema', () => {
  it('accepts a well-formed result', () => {
    expect(validateResult(sampleResult())).toEqual([]);
  });
  it('rejects a skipped scenario without a reason, bad status, missing machine facts, ratio target without reference', () => {
    const r = sampleResult();
    delete (r.scenarios[1] as { reason?: string }).reason;
    (r.scenarios[0] as { status: string }).status = 'maybe';
    (r.machine as { kernel?: string }).kernel = undefined;
    (r.scenarios[0].measurements[0] as { reference: unknown }).reference = null;
    (r.scenarios[0].measurements[0] as { target: unknown }).target = { kind: 'ratio', op: '<=', value: 2 };
    const p = validateResult(r);
    expect(p.some((x: string) => x.includes('needs a reason'))).toBe(true);
    expect(p.some((x: string) => x.includes('bad status'))).toBe(true);
    expect(p.some((x: string) => x.includes('machine'))).toBe(true);
    expect(p.some((x: string) => x.includes('ratio target needs a reference'))).toBe(true);
  });
});

describe('rendering', () => {
  it('the markdown table has hastack next to its reference, the ratio and the target verdict', () => {
    const t = renderTable(sampleResult().scenarios);
    const row = t.split('\n').find((l: string) => l.includes('hastack → Linux'))!;
    expect(row).toContain('| 2.00 Gbit/s |');
    expect(row).toContain('4.00 Gbit/s (Linux)');
    expect(row).toContain('0.50×');
    expect(row).toContain('✅');
    expect(t).toContain('skipped: not root');
    expect(t).toContain('skipped: Stack.restore() is not implemented');
  });
  it('the summary and performance doc carry the command, machine facts, targets and skip reasons', () => {
    const md = renderMarkdown(sampleResult());
    expect(md).toContain('npx -y pnpm@10.34.9 bench --quick');
    expect(md).toContain('2 CPUs (Test CPU)');
    expect(md).toContain('Linux 6.1.0');
    expect(md).toContain('Failover**: skipped: Stack.restore() is not implemented');
    const doc = renderPerformanceDoc(sampleResult(), { analysis: '## Analysis\n\ntext' });
    expect(doc).toContain('## Targets (issue 7)');
    expect(doc).toContain('| ≥ 2 Gbit/s | Bulk TCP: hastack → Linux <TAP> | 2.00 Gbit/s | ✅ met: 2.00 Gbit/s, 0% above |');
    expect(doc).toContain('| stall ≤ 300 ms | Failover | skipped: Stack.restore() is not implemented | — |');
    expect(doc).toContain('Node v20.0.0');
    expect(doc).toContain('![Bulk TCP](../bench/results/latest-bulk-tcp.svg)');
    expect(doc).not.toContain('latest-failover.svg');
    expect(doc).toContain('- a note');
    expect(doc.trimEnd().endsWith('text')).toBe(true);
  });
  it('the SVG is well-formed, escapes text and scales bars to the row maximum', () => {
    const svg = renderSvg(sampleResult().scenarios[0]);
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trim().endsWith('</svg>')).toBe(true);
    expect(svg).toContain('hastack → Linux &lt;TAP&gt;');
    expect(svg).not.toContain('<TAP>');
    const widths = [...svg.matchAll(/<rect x="10" y="\d+" width="(\d+)"/g)].map((x) => Number(x[1]));
    expect(widths).toHaveLength(2);
    expect(widths[1]).toBe(530); // reference (4) is the row maximum: full bar
    expect(widths[0]).toBe(265); // hastack (2): half of it
    // Skipped measurements draw no bars; a skipped scenario draws its reason.
    expect(renderSvg(sampleResult().scenarios[1])).toContain('skipped: Stack.restore() is not implemented');
  });
});
