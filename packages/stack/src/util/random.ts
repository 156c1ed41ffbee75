/**
 * A small, fast, seeded pseudo-random generator (sfc32, Chris Doty-Humphrey's Small Fast
 * Chaotic generator; state seeded through splitmix32). Used wherever behaviour must replay
 * exactly from a seed: MemoryNetwork / FaultyLink faults, ephemeral port choice, the fuzz test.
 * Not cryptographic: never use it for TCP ISNs, SYN cookies or keys.
 */
export class Random {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed = 1) {
    // splitmix32 spreads a small integer seed over 128 bits of state.
    let s = seed >>> 0;
    const next = (): number => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = next();
    this.b = next();
    this.c = next();
    this.d = next();
    for (let i = 0; i < 12; i++) this.u32();
  }

  /** A uniformly distributed unsigned 32-bit integer. */
  u32(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0;
    this.d = (this.d + 1) >>> 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) >>> 0;
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0;
    this.c = (this.c + t) >>> 0;
    return t;
  }

  /** A float in [0, 1). */
  next(): number {
    return this.u32() / 4294967296;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** True with probability `p`. Draws nothing when p <= 0, so a zero knob never shifts the sequence. */
  chance(p: number): boolean {
    if (p <= 0) return false;
    if (p >= 1) return true;
    return this.next() < p;
  }

  /** Fill `buf` with random bytes. */
  fill(buf: Uint8Array): Uint8Array {
    for (let i = 0; i < buf.length; i += 4) {
      let v = this.u32();
      for (let j = 0; j < 4 && i + j < buf.length; j++) {
        buf[i + j] = v & 0xff;
        v >>>= 8;
      }
    }
    return buf;
  }
}

/** A random locally administered unicast MAC (RFC 7042 §2.1: U/L bit set, I/G bit clear). */
export function randomMac(rng?: Random): Uint8Array {
  const mac = new Uint8Array(6);
  if (rng) rng.fill(mac);
  else crypto.getRandomValues(mac);
  mac[0] = (mac[0] & 0xfe) | 0x02;
  return mac;
}
