/**
 * 32-bit modular sequence-number arithmetic (RFC 9293 §3.4, RFC 1982 serial number
 * arithmetic) for TCP sequence numbers and SCTP TSNs. Never compare two sequence numbers with a
 * raw `<`: a comparison is the sign of their 32-bit difference. All results are unsigned
 * (`>>> 0`) except `seqSub`, which is a signed distance.
 *
 * Like every modular comparison it is only meaningful for numbers less than 2^31 apart.
 */

/** `a + n` modulo 2^32 (n may be negative). */
export function seqAdd(a: number, n: number): number {
  return (a + n) >>> 0;
}

/** Signed distance `a - b` in [-2^31, 2^31): positive when `a` is after `b`. */
export function seqSub(a: number, b: number): number {
  return (a - b) | 0;
}

/** `a` comes before `b`. */
export function seqLt(a: number, b: number): boolean {
  return ((a - b) | 0) < 0;
}

/** `a` comes before or equals `b`. */
export function seqLe(a: number, b: number): boolean {
  return ((a - b) | 0) <= 0;
}

/** `a` comes after `b`. */
export function seqGt(a: number, b: number): boolean {
  return ((a - b) | 0) > 0;
}

/** `a` comes after or equals `b`. */
export function seqGe(a: number, b: number): boolean {
  return ((a - b) | 0) >= 0;
}

/** The later of `a` and `b` (unsigned). */
export function seqMax(a: number, b: number): number {
  return (((a - b) | 0) >= 0 ? a : b) >>> 0;
}

/** The earlier of `a` and `b` (unsigned). */
export function seqMin(a: number, b: number): number {
  return (((a - b) | 0) <= 0 ? a : b) >>> 0;
}

/**
 * `start <= x < start + len` modulo 2^32 (RFC 9293 §3.10.7.4 acceptability test shape).
 * `len` is an unsigned window size up to 2^32; an empty window contains nothing.
 */
export function inWindow(x: number, start: number, len: number): boolean {
  return ((x - start) >>> 0) < len;
}
