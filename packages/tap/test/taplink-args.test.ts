// Argument validation happens before the device is touched: these run anywhere (no root, no addon).
import { describe, expect, it } from 'vitest';
import { HastackError } from '@hastack/stack';
import { netnsPath, resolveOffloads, TapLink, validateIfName, type TapLinkOptions } from '../src/index.js';

function code(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(HastackError);
    return (e as HastackError).code;
  }
  return undefined;
}

describe('TapLink argument validation', () => {
  it('rejects bad interface names with ERR_TAP_BAD_NAME', () => {
    for (const n of ['', 'a'.repeat(16), '.', '..', 'a/b', 'a:b', 'a b', 'tab\t', 'x%s', 'a%d%d']) {
      expect(code(() => new TapLink({ name: n })), JSON.stringify(n)).toBe('ERR_TAP_BAD_NAME');
    }
    expect(code(() => new TapLink({ name: 'é'.repeat(8) }))).toBe('ERR_TAP_BAD_NAME'); // 16 bytes in UTF-8
    expect(validateIfName('hs0a1b2ct0')).toBe('hs0a1b2ct0');
    expect(validateIfName('tap%d')).toBe('tap%d');
    expect(validateIfName('a'.repeat(15))).toHaveLength(15);
  });

  it('rejects wrong types and values with Node-style codes', () => {
    expect(code(() => new TapLink(undefined as unknown as TapLinkOptions))).toBe('ERR_INVALID_ARG_TYPE');
    expect(code(() => new TapLink({ name: 42 } as unknown as TapLinkOptions))).toBe('ERR_INVALID_ARG_TYPE');
    expect(code(() => new TapLink({ name: 't0', mode: 'eth' as 'tap' }))).toBe('ERR_INVALID_ARG_VALUE');
    expect(code(() => new TapLink({ name: 't0', mtu: 67 }))).toBe('ERR_INVALID_ARG_VALUE');
    expect(code(() => new TapLink({ name: 't0', mtu: 70000 }))).toBe('ERR_INVALID_ARG_VALUE');
    expect(code(() => new TapLink({ name: 't0', mtu: 1500.5 }))).toBe('ERR_INVALID_ARG_TYPE');
    expect(code(() => new TapLink({ name: 't0', rxBatch: 0 }))).toBe('ERR_INVALID_ARG_VALUE');
    expect(code(() => new TapLink({ name: 't0', txQueueFrames: 1 }))).toBe('ERR_INVALID_ARG_VALUE');
    expect(code(() => new TapLink({ name: 't0', mac: '02:00:00:00:00' }))).toBe('ERR_INVALID_ARG_VALUE');
    expect(code(() => new TapLink({ name: 't0', mac: new Uint8Array(5) }))).toBe('ERR_INVALID_ARG_VALUE');
    expect(code(() => new TapLink({ name: 't0', mac: 5 as unknown as string }))).toBe('ERR_INVALID_ARG_TYPE');
    expect(code(() => new TapLink({ name: 't0', mac: '02:00:00:00:00:01', ifaceMac: '02:00:00:00:00:01' }))).toBe('ERR_INVALID_ARG_VALUE');
    expect(code(() => new TapLink({ name: 't0', mode: 'tun', mac: '02:00:00:00:00:01' }))).toBe('ERR_INVALID_ARG_VALUE');
    expect(code(() => new TapLink({ name: 't0', offloads: 'yes' as unknown as boolean }))).toBe('ERR_INVALID_ARG_TYPE');
    expect(code(() => new TapLink({ name: 't0', offloads: { lro: true } as unknown as boolean }))).toBe('ERR_INVALID_ARG_VALUE');
    expect(code(() => new TapLink({ name: 't0', netns: '' }))).toBe('ERR_INVALID_ARG_TYPE');
    expect(code(() => new TapLink({ name: 't0', up: 'yes' as unknown as boolean }))).toBe('ERR_INVALID_ARG_TYPE');
  });

  it('resolves netns names to /var/run/netns paths', () => {
    expect(netnsPath(undefined)).toBe('');
    expect(netnsPath('lab1')).toBe('/var/run/netns/lab1');
    expect(netnsPath('/proc/1/ns/net')).toBe('/proc/1/ns/net');
    expect(code(() => netnsPath('..'))).toBe('ERR_INVALID_ARG_VALUE');
  });

  it('resolves offloads: gro implies rxChecksum, tso implies txChecksum, maxFrame follows tso', () => {
    expect(resolveOffloads(undefined, 14, 1500)).toEqual({ rxChecksum: false, txChecksum: false, tso: false, gro: false, maxFrame: 1514 });
    expect(resolveOffloads(true, 14, 1500)).toEqual({ rxChecksum: true, txChecksum: true, tso: true, gro: true, maxFrame: 65549 });
    expect(resolveOffloads({ gro: true }, 14, 1500)).toMatchObject({ rxChecksum: true, gro: true, txChecksum: false, tso: false });
    expect(resolveOffloads({ tso: true }, 0, 9000)).toEqual({ rxChecksum: false, txChecksum: true, tso: true, gro: false, maxFrame: 65535 });
    expect(resolveOffloads({ txChecksum: true }, 0, 9000).maxFrame).toBe(9000);
    expect(Object.isFrozen(resolveOffloads(false, 14, 1500))).toBe(true);
  });
});
