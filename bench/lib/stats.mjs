/** Pure statistics for the harness (unit-tested in bench/test). */

/** Median of finite numbers (mean of the middle two for an even count); NaN when empty. */
export function median(xs) {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

/** p-th percentile (0..100), nearest-rank on the sorted finite values; NaN when empty. */
export function percentile(xs, p) {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * v.length);
  return v[Math.min(v.length - 1, Math.max(0, rank - 1))];
}

/** Summary of samples: median, min, max, n, and relative spread ((max-min)/median). */
export function summarize(samples) {
  const v = samples.filter((x) => Number.isFinite(x));
  const med = median(v);
  const min = v.length ? Math.min(...v) : NaN;
  const max = v.length ? Math.max(...v) : NaN;
  return { samples: v, n: v.length, median: med, min, max, spread: med ? (max - min) / Math.abs(med) : NaN };
}

/**
 * Parses a wrk latency string ("812.00us", "1.20ms", "2.5s") into milliseconds.
 * Returns NaN for anything else.
 */
export function parseWrkDuration(s) {
  const m = /^([0-9.]+)(us|ms|s|m)$/.exec(String(s).trim());
  if (!m) return NaN;
  const x = Number(m[1]);
  return m[2] === 'us' ? x / 1000 : m[2] === 'ms' ? x : m[2] === 's' ? x * 1000 : x * 60_000;
}

/** Parses `wrk --latency` output: { rps, p50Ms, p99Ms, requests, errors }. */
export function parseWrk(out) {
  const rps = Number(/Requests\/sec:\s+([0-9.]+)/.exec(out)?.[1] ?? NaN);
  const p50 = parseWrkDuration(/^\s*50%\s+(\S+)/m.exec(out)?.[1] ?? '');
  const p99 = parseWrkDuration(/^\s*99%\s+(\S+)/m.exec(out)?.[1] ?? '');
  const requests = Number(/([0-9]+) requests in/.exec(out)?.[1] ?? NaN);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  const errors = (sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0) + non2xx;
  return { rps, p50Ms: p50, p99Ms: p99, requests, errors };
}
