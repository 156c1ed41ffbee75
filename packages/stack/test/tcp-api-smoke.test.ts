import { describe, it, expect } from 'vitest';
import { lan } from './helpers.js';

describe('smoke', () => {
  it('echo', async () => {
    const { clock, stacks: [a, b] } = lan(2);
    const events: string[] = [];
    const srv = b.createServer((s) => { events.push('conn'); s.pipe(s); });
    srv.listen(7, () => events.push('listening'));
    await clock.run(() => events.includes('listening'));
    const c = a.connect(7, '198.18.0.2', () => events.push('connect'));
    const got: Buffer[] = [];
    c.on('data', (d) => got.push(d));
    c.on('end', () => events.push('end'));
    c.on('close', (h) => events.push('close:' + h));
    c.end('hello');
    await clock.run(() => events.some((e) => e.startsWith('close')), { maxMs: 10_000 });
    console.log(events, Buffer.concat(got).toString(), clock.now());
    expect(Buffer.concat(got).toString()).toBe('hello');
  });
});
