/**
 * Typed errors for API misuse and connection failures, shaped like Node's system errors:
 * `err.code` is a stable string (ECONNREFUSED, ERR_CHECKPOINT_INVALID, ...), `err.syscall` names
 * the operation where that helps, and `instanceof HastackError` identifies ours.
 */

export type ErrorCode =
  | 'ECONNREFUSED'
  | 'ECONNRESET'
  | 'ECONNABORTED'
  | 'ETIMEDOUT'
  | 'EADDRINUSE'
  | 'EADDRNOTAVAIL'
  | 'EPIPE'
  | 'ENOTCONN'
  | 'EHOSTUNREACH'
  | 'ENETUNREACH'
  | 'EMSGSIZE'
  | 'EINVAL'
  | 'ENOBUFS'
  | 'ENOTSUP'
  | 'EACCES'
  | 'ERR_SOCKET_CLOSED'
  | 'ERR_SOCKET_BAD_PORT'
  | 'ERR_SOCKET_BAD_TYPE'
  | 'ERR_SOCKET_ALREADY_BOUND'
  | 'ERR_SOCKET_DGRAM_NOT_RUNNING'
  | 'ERR_SOCKET_DGRAM_IS_CONNECTED'
  | 'ERR_SOCKET_DGRAM_NOT_CONNECTED'
  | 'ERR_SERVER_ALREADY_LISTEN'
  | 'ERR_SERVER_NOT_RUNNING'
  | 'ERR_STREAM_WRITE_AFTER_END'
  | 'ERR_INVALID_ARG_TYPE'
  | 'ERR_INVALID_ARG_VALUE'
  | 'ERR_INVALID_IP_ADDRESS'
  | 'ERR_STACK_CLOSED'
  | 'ERR_CHECKPOINT_INVALID'
  | 'ERR_CHECKPOINT_STALE'
  | 'ERR_CHECKPOINT_UNSUPPORTED_STATE'
  | 'ERR_TAP_NO_DEVICE'
  | 'ERR_TAP_PERMISSION'
  | 'ERR_TAP_BUSY'
  | 'ERR_TAP_BAD_NAME'
  | 'ERR_TAP_IO'
  | 'ERR_LINK_UNSUPPORTED'
  | 'ERR_CLUSTER_AUTH'
  | 'ERR_CLUSTER_CONFIG'
  | 'ERR_SCTP_PROTOCOL'
  | 'ERR_SCTP_ABORTED';

export class HastackError extends Error {
  readonly code: ErrorCode;
  readonly syscall?: string;
  /** Extra facts (address, port, ...) for logs. */
  readonly info?: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, opts: { syscall?: string; info?: Record<string, unknown>; cause?: unknown } = {}) {
    super(`${code}: ${message}`, opts.cause !== undefined ? { cause: opts.cause } : undefined);
    this.name = 'HastackError';
    this.code = code;
    if (opts.syscall) this.syscall = opts.syscall;
    if (opts.info) {
      this.info = opts.info;
      Object.assign(this, opts.info);
    }
  }
}

/** Shorthand: `throw err('EINVAL', 'port must be 0..65535')`. */
export function err(code: ErrorCode, message: string, opts?: { syscall?: string; info?: Record<string, unknown>; cause?: unknown }): HastackError {
  return new HastackError(code, message, opts);
}
