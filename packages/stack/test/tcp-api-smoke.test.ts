/** Smoke test: the echo round trip through Stack.createServer / Stack.connect. */
import { describe, it, expect } from 'vitest';
import type { Socket } from '../src/tcp/socket.js';
import { lan } from './helpers.js';

describe('tcp api smoke', () => {
  it('echo through stack.createServer / stack.connect', async () => {
    const {
      clock,
      stacks: [a, b],
    } = lan(2);
    const events: string[] = [];
    const srv = b.createServer((s: Socket) => {
      events.push('connection');
      s.pipe(s);
    });
    srv.listen(7, () => events.push('listening'));
    await clock.run(() => events.includes('listening'));
    const c = a.connect(7, '198.18.0.2', () => events.push('connect'));
    const got: Buffer[] = [];
    c.on('data', (d: Buffer) => got.push(d));
    c.on('end', () => events.push('end'));
    c.on('close', (hadError: boolean) => events.push(`close:${hadError}`));
    c.end('hello');
    await clock.run(() => events.some((e) => e.startsWith('close')), { maxMs: 10_000 });
    expect(Buffer.concat(got).toString()).toBe('hello');
    expect(events).toEqual(['listening', 'connect', 'connection', 'end', 'close:false']);
  });
});
