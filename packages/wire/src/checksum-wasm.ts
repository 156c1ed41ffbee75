/**
 * A WebAssembly SIMD kernel for the internet checksum (RFC 1071), emitted as bytes from here: no
 * toolchain, no file to load. `checksum.ts` uses it for long ranges and falls back to its
 * JavaScript loop when WebAssembly (or its SIMD proposal) is unavailable.
 *
 * Read this first:
 * - The bytes are copied into the module's memory (memcpy speed) and summed 16 at a time with
 *   `i32x4.extadd_pairwise_i16x8_u` (eight 16-bit words -> four 32-bit lane sums) into a v128
 *   accumulator. Loads are little-endian, so the words are byte-swapped; ones'-complement sums
 *   are byte-order independent (RFC 1071 §2(B)): the folded result is swapped back once at the end.
 * - One call sums at most PIECE bytes: 4096 iterations add at most 2 * 0xffff each to a lane, well
 *   below 2^32, so the lanes never overflow. Longer ranges are summed piece by piece (PIECE is
 *   even, so the word alignment relative to the start is kept).
 * - The kernel returns the 16-bit folded sum, end-around carries included, so a non-zero total
 *   never folds to 0 (0 and 0xffff differ in ones'-complement arithmetic only there, and the sum
 *   is 0 only when every byte is 0, as in the JS loop).
 * - The odd trailing byte is padded with zero (RFC 1071 §4.1): the kernel writes 16 zero bytes at
 *   the end of the copied data before summing whole 16-byte blocks.
 */

/** Bytes summed per kernel call (the module has 2 pages: PIECE + 16 bytes of padding fit). */
export const WASM_PIECE = 65536;

// ---- the module, as bytes ----

function leb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

function section(id: number, content: number[]): number[] {
  return [id, ...leb(content.length), ...content];
}

// Locals: 0 = n (param, i32), 1 = i (i32), 2 = acc (v128), 3 = t (i64).
const L_N = 0;
const L_I = 1;
const L_ACC = 2;
const L_T = 3;
const SIMD = 0xfd;

/** acc = i32x4.add(acc, i32x4.extadd_pairwise_i16x8_u(v128.load offset=off (i))). */
function addBlock(acc: number, off: number): number[] {
  return [0x20, acc, 0x20, L_I, SIMD, 0x00, 0x00, ...leb(off), SIMD, 0x7f, SIMD, ...leb(0xae), 0x21, acc];
}

function body(): number[] {
  const b: number[] = [];
  // memory[n .. n+16) = 0: padding for the odd byte and the partial last block.
  b.push(0x20, L_N, SIMD, 0x0c, ...new Array<number>(16).fill(0), SIMD, 0x0b, 0x00, 0x00);
  // 16 bytes at a time (the last block reads the zero padding). Measured: unrolling by 4 into two
  // accumulators was no faster on V8 (x64), so the loop stays simple.
  // block { loop { if (i >= n) break; acc += ..(i); i += 16 } }
  b.push(0x02, 0x40, 0x03, 0x40);
  b.push(0x20, L_I, 0x20, L_N, 0x4f, 0x0d, 0x01);
  b.push(...addBlock(L_ACC, 0));
  b.push(0x20, L_I, 0x41, 0x10, 0x6a, 0x21, L_I);
  b.push(0x0c, 0x00, 0x0b, 0x0b);
  // t = lane0 + lane1 + lane2 + lane3 (as u64)
  b.push(0x20, L_ACC, SIMD, 0x1b, 0, 0xad);
  for (let lane = 1; lane < 4; lane++) b.push(0x20, L_ACC, SIMD, 0x1b, lane, 0xad, 0x7c);
  b.push(0x21, L_T);
  // Four folds: t = (t & 0xffff) + (t >> 16). From t < 2^34 this ends at <= 0xffff, never 0 unless t was.
  for (let k = 0; k < 4; k++) b.push(0x20, L_T, 0x42, 0xff, 0xff, 0x03, 0x83, 0x20, L_T, 0x42, 0x10, 0x88, 0x7c, 0x21, L_T);
  b.push(0x20, L_T, 0xa7, 0x0b);
  // Local declarations: i32 x1, v128 x1, i64 x1 (indices 1, 2, 3 after the param).
  const locals = [0x03, 0x01, 0x7f, 0x01, 0x7b, 0x01, 0x7e];
  const fn = [...locals, ...b];
  return [...leb(fn.length), ...fn];
}

/** The module's bytes (exports: `m` memory, `s(n) -> i32` the byte-swapped folded sum of m[0..n)). */
export function checksumModuleBytes(): Uint8Array {
  const bytes = [
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, [0x01, 0x60, 0x01, 0x7f, 0x01, 0x7f]),
    ...section(3, [0x01, 0x00]),
    ...section(5, [0x01, 0x00, 0x02]),
    ...section(7, [0x02, 0x01, 0x6d, 0x02, 0x00, 0x01, 0x73, 0x00, 0x00]),
    ...section(10, [0x01, ...body()]),
  ];
  return Uint8Array.from(bytes);
}

// The few WebAssembly JS API members used here (the package compiles without DOM typings).
interface WasmGlobal {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
}

/** The instantiated kernel: its memory as bytes and the sum function. */
export interface ChecksumKernel {
  readonly mem: Uint8Array;
  readonly sum: (n: number) => number;
}

/**
 * Compile and instantiate the kernel synchronously (the module is ~150 bytes), or null when
 * WebAssembly or SIMD is unavailable (the caller keeps the JS loop).
 */
export function loadChecksumKernel(): ChecksumKernel | null {
  try {
    const W = (globalThis as { WebAssembly?: WasmGlobal }).WebAssembly;
    if (W === undefined) return null;
    const bytes = checksumModuleBytes();
    if (!W.validate(bytes)) return null;
    const inst = new W.Instance(new W.Module(bytes), {});
    const memory = inst.exports.m as { buffer: ArrayBuffer };
    const sum = inst.exports.s as (n: number) => number;
    return { mem: new Uint8Array(memory.buffer), sum };
  } catch {
    return null;
  }
}
