// checksumPartial reads only the bytes of the view it is given: a range reaching past the view's
// end (or starting before it) is cut to the view. Without that, the DataView loop read the
// neighbouring bytes of the underlying ArrayBuffer (another frame in a Buffer pool) and the
// WebAssembly path summed whatever an earlier call had left in the kernel's memory, so the result
// depended on unrelated data. Also: detached buffers sum as empty instead of throwing.
import { describe, expect, it } from 'vitest';
import { checksumPartial, checksumPartialJs, foldSum } from '../src/index.js';

function filled(n: number, f: (i: number) => number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = f(i);
  return b;
}

describe('checksumPartial stays inside the view', () => {
  for (const [name, fn] of [['dispatch (wasm from 256 bytes)', checksumPartial], ['JS loop', checksumPartialJs]] as const) {
    it(`${name}: an end past the view or a negative start sums only the view, whatever the neighbours or earlier calls held`, () => {
      for (const len of [7, 63, 64, 400, 1500, 4097]) {
        const backing = filled(len + 8192, (i) => (i * 7 + 3) & 0xff);
        const view = backing.subarray(1000, 1000 + len);
        const exact = foldSum(fn(view, 0, len));
        // Different neighbours, and (for the kernel) different leftovers from a previous call.
        const other = filled(len + 8192, (i) => (i * 13 + 200) & 0xff);
        other.set(view, 1000);
        const view2 = other.subarray(1000, 1000 + len);
        fn(filled(70000, () => 0xab));
        expect(foldSum(fn(view, 0, len + 3000))).toBe(exact);
        fn(filled(70000, () => 0x5c));
        expect(foldSum(fn(view2, 0, len + 3000))).toBe(exact);
        expect(foldSum(fn(view, -50, len))).toBe(exact);
        expect(foldSum(fn(view, 0, len + 1))).toBe(exact);
      }
    });
  }

  it('a detached buffer sums as empty (the initial value), on both paths', () => {
    const ab = new ArrayBuffer(1000);
    const v = new Uint8Array(ab).fill(5);
    structuredClone(ab, { transfer: [ab] });
    expect(checksumPartial(v, 0, 1000, 77)).toBe(77);
    expect(checksumPartialJs(v, 0, 1000, 77)).toBe(77);
  });
});
