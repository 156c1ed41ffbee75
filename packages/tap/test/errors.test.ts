// How system errors from the addon map to typed errors (no device needed: fake errors).
import { describe, expect, it } from 'vitest';
import { mapCtlError, mapOpenError } from '../src/native.js';

function sys(syscall: string, code: string, message: string, extra: Record<string, unknown> = {}): Error {
  return Object.assign(new Error(message), { syscall, code, ...extra });
}

describe('TUN/TAP error mapping', () => {
  it('maps open(/dev/net/tun) failures', () => {
    expect(mapOpenError(sys('open', 'ENOENT', 'open /dev/net/tun: No such file'), 't0', '').code).toBe('ERR_TAP_NO_DEVICE');
    expect(mapOpenError(sys('open', 'ENODEV', 'open /dev/net/tun: No such device'), 't0', '').code).toBe('ERR_TAP_NO_DEVICE');
    const e = mapOpenError(sys('open', 'EACCES', 'open /dev/net/tun: Permission denied'), 't0', '');
    expect(e.code).toBe('ERR_TAP_PERMISSION');
    expect(e.message).toMatch(/CAP_NET_ADMIN/);
    expect(e.syscall).toBe('open');
  });

  it('maps TUNSETIFF failures: busy, taken by another kind, bad name, permission', () => {
    expect(mapOpenError(sys('TUNSETIFF', 'EBUSY', 'x'), 't0', '').code).toBe('ERR_TAP_BUSY');
    expect(mapOpenError(sys('TUNSETIFF', 'EINVAL', 'x', { exists: true }), 'eth0', '').code).toBe('ERR_TAP_BUSY');
    expect(mapOpenError(sys('TUNSETIFF', 'EINVAL', 'x'), 'bad', '').code).toBe('ERR_TAP_BAD_NAME');
    expect(mapOpenError(sys('TUNSETIFF', 'EPERM', 'x'), 't0', '').code).toBe('ERR_TAP_PERMISSION');
    expect(mapOpenError(sys('TUNSETIFF', 'EFAULT', 'x'), 't0', '').code).toBe('ERR_TAP_IO');
  });

  it('maps a missing or foreign netns to ERR_INVALID_ARG_VALUE', () => {
    expect(mapOpenError(sys('open', 'ENOENT', 'open /var/run/netns/x: No such file'), 't0', '/var/run/netns/x').code).toBe('ERR_INVALID_ARG_VALUE');
    expect(mapOpenError(sys('setns', 'EINVAL', 'setns /tmp/f'), 't0', '/tmp/f').code).toBe('ERR_INVALID_ARG_VALUE');
    expect(mapOpenError(sys('setns', 'EPERM', 'setns /tmp/f'), 't0', '/tmp/f').code).toBe('ERR_TAP_PERMISSION');
  });

  it('maps control errors', () => {
    expect(mapCtlError(sys('SIOCSIFMTU', 'EINVAL', 'x'), 'SIOCSIFMTU', 't0').code).toBe('ERR_INVALID_ARG_VALUE');
    expect(mapCtlError(sys('SIOCSIFFLAGS', 'EPERM', 'x'), 'SIOCSIFFLAGS', 't0').code).toBe('ERR_TAP_PERMISSION');
    expect(mapCtlError(Object.assign(new Error('device is closed'), { code: 'EBADF' }), 'x', 't0').code).toBe('ERR_TAP_IO');
  });
});
