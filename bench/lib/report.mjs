/**
 * Pure rendering of bench results: schema check, target evaluation, the markdown summary, SVG bar
 * charts (hand-written, no plotting dependency) and docs/performance.md. Unit-tested in bench/test.
 *
 * Result shape (schema 'hastack-bench/1'):
 *   { schema, startedAt, finishedAt, durationS, quick, command, reps, machine: { nproc, cpuModel, kernel, node, memGiB, root },
 *     scenarios: [ { id, title, status: 'ok'|'skipped'|'failed', reason?, notes?: string[],
 *                    measurements: [ Measurement ] } ] }
 *   Measurement: { id, name, unit, better: 'higher'|'lower',
 *                  subject: Summary & { label }, reference: (Summary & { label }) | null,
 *                  target: { kind: 'absolute'|'ratio', op: '>='|'<=', value, text } | null,
 *                  skipped?: string, note?: string }
 *   Summary: { samples, n, median, min, max, spread } (see stats.mjs summarize)
 */

export const SCHEMA = 'hastack-bench/1';

/** Returns a list of problems (empty when the result is well-formed). */
export function validateResult(r) {
  const p = [];
  const isNum = (x) => typeof x === 'number';
  if (!r || typeof r !== 'object') return ['result is not an object'];
  if (r.schema !== SCHEMA) p.push(`schema must be ${SCHEMA}`);
  for (const k of ['startedAt', 'finishedAt', 'command']) if (typeof r[k] !== 'string') p.push(`${k} must be a string`);
  if (typeof r.quick !== 'boolean') p.push('quick must be a boolean');
  const m = r.machine;
  if (!m || !isNum(m.nproc) || typeof m.cpuModel !== 'string' || typeof m.kernel !== 'string' || typeof m.node !== 'string') p.push('machine needs nproc, cpuModel, kernel, node');
  if (!Array.isArray(r.scenarios)) return [...p, 'scenarios must be an array'];
  for (const s of r.scenarios) {
    const at = `scenario ${s?.id}`;
    if (typeof s?.id !== 'string' || typeof s.title !== 'string') p.push(`${at}: id and title must be strings`);
    if (!['ok', 'skipped', 'failed'].includes(s?.status)) p.push(`${at}: bad status ${s?.status}`);
    if (s?.status !== 'ok' && typeof s?.reason !== 'string') p.push(`${at}: a ${s?.status} scenario needs a reason`);
    if (!Array.isArray(s?.measurements)) {
      p.push(`${at}: measurements must be an array`);
      continue;
    }
    for (const x of s.measurements) {
      const mat = `${at} / ${x?.id}`;
      if (typeof x?.id !== 'string' || typeof x.name !== 'string' || typeof x.unit !== 'string') p.push(`${mat}: id, name, unit must be strings`);
      if (!['higher', 'lower'].includes(x?.better)) p.push(`${mat}: better must be higher|lower`);
      if (x?.skipped !== undefined) {
        if (typeof x.skipped !== 'string') p.push(`${mat}: skipped must be a reason string`);
        continue;
      }
      for (const side of ['subject', 'reference']) {
        const v = x?.[side];
        if (side === 'reference' && v == null) continue;
        if (!v || typeof v.label !== 'string' || !Array.isArray(v.samples) || !isNum(v.median)) p.push(`${mat}: ${side} needs label, samples, median`);
      }
      const t = x?.target;
      if (t != null && (!['absolute', 'ratio'].includes(t.kind) || !['>=', '<='].includes(t.op) || !isNum(t.value))) p.push(`${mat}: bad target`);
      if (t?.kind === 'ratio' && x.reference == null) p.push(`${mat}: a ratio target needs a reference`);
    }
  }
  return p;
}

/** Formats a number with ~3 significant digits (integers above 1000 as is, with thin grouping). */
export function fmt(x) {
  if (typeof x !== 'number' || !Number.isFinite(x)) return '—';
  const a = Math.abs(x);
  if (a >= 1000) return Math.round(x).toLocaleString('en-US');
  if (a >= 100) return x.toFixed(0);
  if (a >= 10) return x.toFixed(1);
  if (a >= 1) return x.toFixed(2);
  if (a === 0) return '0';
  return x.toPrecision(2);
}

/** subject.median / reference.median, or NaN. */
export function ratio(m) {
  if (!m.reference || !m.subject) return NaN;
  return m.subject.median / m.reference.median;
}

/**
 * Evaluates a measurement's target: { met: true|false|null, value, text }. `value` is what is
 * compared (the median, or the ratio to the reference); text says by how much.
 */
export function evaluateTarget(m) {
  const t = m.target;
  if (!t) return { met: null, value: NaN, text: 'no target' };
  if (m.skipped !== undefined) return { met: null, value: NaN, text: 'not measured' };
  const v = t.kind === 'ratio' ? ratio(m) : m.subject?.median;
  if (!Number.isFinite(v)) return { met: null, value: v, text: 'not measured' };
  const met = t.op === '>=' ? v >= t.value : v <= t.value;
  const what = t.kind === 'ratio' ? `${fmt(v)}× the reference` : `${fmt(v)} ${m.unit}`;
  let by;
  if (t.op === '>=') {
    by = met ? `${fmt(((v - t.value) / t.value) * 100)}% above` : `${fmt(((t.value - v) / t.value) * 100)}% short (needs ${fmt(t.value / v)}× more)`;
  } else {
    by = met ? `${fmt(((t.value - v) / t.value) * 100)}% under the limit` : `${fmt(((v - t.value) / t.value) * 100)}% over the limit (needs ${fmt(v / t.value)}× less)`;
  }
  return { met, value: v, text: `${met ? 'met' : 'NOT met'}: ${what}, ${by}` };
}

const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
const cell = (s) => String(s).replace(/\|/g, '\\|').replace(/\n/g, ' ');

/** Markdown table rows (one per measurement) for the given scenarios. */
export function renderTable(scenarios) {
  const rows = ['| Scenario | Measurement | hastack (median) | reference (median) | hastack/ref | target | result | runs |', '|---|---|---|---|---|---|---|---|'];
  for (const s of scenarios) {
    if (s.status !== 'ok' && s.measurements.length === 0) {
      rows.push(`| ${cell(s.title)} | — | ${s.status}: ${cell(s.reason)} | | | | | |`);
      continue;
    }
    for (const m of s.measurements) {
      if (m.skipped !== undefined) {
        rows.push(`| ${cell(s.title)} | ${cell(m.name)} | skipped: ${cell(m.skipped)} | | | ${cell(m.target?.text ?? '')} | | |`);
        continue;
      }
      const ev = evaluateTarget(m);
      const ref = m.reference ? `${fmt(m.reference.median)} ${m.unit} (${cell(m.reference.label)})` : '—';
      const r = ratio(m);
      rows.push(
        `| ${cell(s.title)} | ${cell(m.name)} | ${fmt(m.subject.median)} ${m.unit} | ${ref} | ${Number.isFinite(r) ? fmt(r) + '×' : '—'} | ${cell(m.target?.text ?? '—')} | ${ev.met === null ? '—' : ev.met ? '✅ ' + cell(ev.text.replace(/^met: /, '')) : '❌ ' + cell(ev.text.replace(/^NOT met: /, ''))} | ${m.subject.n}${m.reference ? '+' + m.reference.n : ''} |`,
      );
    }
  }
  return rows.join('\n');
}

/** Lines listing skipped/failed scenarios and measurements with their exact reasons. */
export function renderSkipped(scenarios) {
  const out = [];
  for (const s of scenarios) {
    if (s.status !== 'ok') out.push(`- **${s.title}**: ${s.status}: ${s.reason}`);
    for (const m of s.measurements) if (m.skipped !== undefined) out.push(`- **${s.title} / ${m.name}**: skipped: ${m.skipped}`);
  }
  return out;
}

export function machineLine(machine) {
  const load = Array.isArray(machine.loadavgAtStart) ? `, load average at start ${machine.loadavgAtStart.join(' / ')} (1/5/15 min)` : '';
  return `${machine.nproc} CPUs (${machine.cpuModel}), ${machine.memGiB} GiB RAM, Linux ${machine.kernel}, Node ${machine.node}${machine.root ? ', root' : ', not root'}${load}`;
}

/** The markdown summary written to bench/results/latest.md. */
export function renderMarkdown(r) {
  const lines = [
    `# hastack bench ${r.quick ? '(quick)' : '(full)'} — ${r.startedAt}`,
    '',
    `Command: \`${r.command}\` — ${r.durationS.toFixed(0)} s, ${r.reps} run(s) per figure (medians).`,
    '',
    `Machine: ${machineLine(r.machine)}.`,
    '',
    renderTable(r.scenarios),
    '',
  ];
  const sk = renderSkipped(r.scenarios);
  if (sk.length) lines.push('## Skipped or failed', '', ...sk, '');
  return lines.join('\n');
}

/**
 * One SVG per scenario: for each measurement a pair of horizontal bars (hastack, reference), each
 * pair scaled to its own maximum (units differ between rows), values printed at the bar ends.
 */
export function renderSvg(s) {
  const ms = s.measurements.filter((m) => m.skipped === undefined && m.subject && Number.isFinite(m.subject.median));
  const W = 760;
  const left = 10;
  const barMax = W - left - 220;
  const rowH = 62;
  const top = 36;
  const H = top + Math.max(1, ms.length) * rowH + 30;
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="10" y="22" font-size="15" font-weight="bold">${esc(s.title)}</text>`,
  ];
  if (ms.length === 0) out.push(`<text x="10" y="${top + 20}">${esc(s.status === 'ok' ? 'no measurements' : `${s.status}: ${s.reason}`)}</text>`);
  ms.forEach((m, i) => {
    const y = top + i * rowH;
    const vals = [m.subject.median, m.reference ? m.reference.median : NaN];
    const max = Math.max(...vals.filter(Number.isFinite), 1e-12);
    // Name on its own line (full width), then the two bars under it.
    out.push(`<text x="${left}" y="${y + 12}">${esc(m.name)} <tspan fill="#666">(${esc(m.unit)}, ${m.better} is better)</tspan></text>`);
    const bars = [
      [m.subject.label, vals[0], '#2f6fdf'],
      [m.reference?.label ?? '', vals[1], '#999'],
    ];
    bars.forEach(([label, v, color], k) => {
      if (!Number.isFinite(v)) return;
      const by = y + 18 + k * 18;
      const w = Math.max(1, Math.round((v / max) * barMax));
      out.push(`<rect x="${left}" y="${by}" width="${w}" height="14" fill="${color}"><title>${esc(label)}: ${esc(fmt(v))} ${esc(m.unit)}</title></rect>`);
      out.push(`<text x="${left + w + 5}" y="${by + 11}">${esc(fmt(v))} ${esc(label)}</text>`);
    });
  });
  out.push(`<text x="10" y="${H - 10}" fill="#666">blue: hastack; grey: reference (same run). Medians.</text>`);
  out.push('</svg>');
  return out.join('\n') + '\n';
}

/** docs/performance.md, regenerated from a result (and the static analysis notes given). */
export function renderPerformanceDoc(r, opts = {}) {
  const targets = [];
  for (const s of r.scenarios) {
    for (const m of s.measurements) {
      if (!m.target) continue;
      const ev = evaluateTarget(m);
      targets.push(`| ${cell(m.target.text)} | ${cell(s.title)}: ${cell(m.name)} | ${m.skipped !== undefined ? 'skipped: ' + cell(m.skipped) : fmt(m.subject.median) + ' ' + m.unit} | ${ev.met === null ? '— ' + cell(ev.text) : ev.met ? '✅ ' + cell(ev.text) : '❌ ' + cell(ev.text)} |`);
    }
    if (s.status !== 'ok' && s.measurements.length === 0) for (const t of s.targets ?? []) targets.push(`| ${cell(t)} | ${cell(s.title)} | ${s.status}: ${cell(s.reason)} | — |`);
  }
  const lines = [
    '# Performance',
    '',
    '<!-- Generated by bench/run.mjs from bench/results/latest.json; edit bench/lib/report.mjs or bench/notes.md, not this file. -->',
    '',
    `Measured ${r.startedAt} with \`${r.command}\` (${r.quick ? 'quick mode: fewer and shorter runs' : 'full mode'}; ${r.reps} run(s) per figure, medians; ${r.durationS.toFixed(0)} s in all).`,
    'Each hastack figure is measured in the same run as its reference, alternating runs; the hastack side runs in its own process.',
    '',
    `**Machine:** ${machineLine(r.machine)}. The machine is shared, so figures move between runs; compare the hastack and reference columns of one run.`,
    '',
    'Reproduce: `bash scripts/bench.sh --quick` (installs, builds, runs) or `npx -y pnpm@10.34.9 bench [--quick] [--only id,id]` after a build. Results: `bench/results/latest.json` (every sample), `bench/results/latest.md`, plots `bench/results/latest-<scenario>.svg`.',
    '',
    '## Targets (issue 7)',
    '',
    '| Target | Measured as | Median | Result |',
    '|---|---|---|---|',
    ...targets,
    '',
    '## All figures',
    '',
    renderTable(r.scenarios),
    '',
  ];
  const sk = renderSkipped(r.scenarios);
  if (sk.length) lines.push('## Skipped or failed (with the exact reason)', '', ...sk, '');
  lines.push('## Plots', '');
  for (const s of r.scenarios) if (s.measurements.some((m) => m.skipped === undefined)) lines.push(`![${s.title}](../bench/results/latest-${s.id}.svg)`, '');
  const notes = r.scenarios.filter((s) => s.notes?.length);
  if (notes.length) {
    lines.push('## Observations from this run', '');
    for (const s of notes) lines.push(`**${s.title}**`, '', ...s.notes.map((n) => `- ${n}`), '');
  }
  if (opts.analysis) lines.push(opts.analysis.trim(), '');
  return lines.join('\n');
}
