import { describe, expect, it } from 'vitest';
import {
  formatResponseHead,
  httpDate,
  ifNoneMatchMatches,
  ifRangeMatches,
  isParseError,
  parseHttpDate,
  parseRange,
  RequestParser,
  type HttpRequest,
  type ParseError,
} from '../src/http.js';

const enc = (s: string) => Buffer.from(s, 'latin1');

/** Feed `chunks` and collect everything next() yields until it returns null. */
function parseAll(chunks: Uint8Array[], p = new RequestParser()): Array<HttpRequest | ParseError> {
  const out: Array<HttpRequest | ParseError> = [];
  for (const c of chunks) {
    p.push(c);
    for (let r = p.next(); r !== null; r = p.next()) out.push(r);
  }
  return out;
}

function one(s: string): HttpRequest | ParseError {
  const r = parseAll([enc(s)]);
  expect(r.length).toBe(1);
  return r[0];
}

function req(s: string): HttpRequest {
  const r = one(s);
  if (isParseError(r)) throw new Error(`unexpected parse error ${r.status} ${r.reason}`);
  return r;
}

function errStatus(s: string): number {
  const r = one(s);
  if (!isParseError(r)) throw new Error(`expected an error for ${JSON.stringify(s)}`);
  return r.status;
}

const PIPELINE =
  'GET /a?x=1 HTTP/1.1\r\nHost: h\r\nAccept: */*\r\n\r\n' +
  'POST /form HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nhello=world' +
  'HEAD /c HTTP/1.0\r\nConnection: keep-alive\r\n\r\n' +
  'GET http://example.com HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n';

describe('RequestParser: well-formed requests', () => {
  it('parses method, target, path, query, version and lower-cased headers', () => {
    const r = req('GET /dir/f%20x.txt?a=1&b HTTP/1.1\r\nHost: example\r\nX-Thing:  v1 \r\nx-thing: v2\r\n\r\n');
    expect(r.method).toBe('GET');
    expect(r.target).toBe('/dir/f%20x.txt?a=1&b');
    expect(r.path).toBe('/dir/f%20x.txt');
    expect(r.query).toBe('a=1&b');
    expect(r.minor).toBe(1);
    expect(r.headers['host']).toBe('example');
    // Repeated fields are combined in order (RFC 9110 §5.3); OWS is trimmed.
    expect(r.headers['x-thing']).toBe('v1, v2');
    expect(r.keepAlive).toBe(true);
    expect(r.contentLength).toBe(0);
  });

  it('applies HTTP/1.1 and HTTP/1.0 persistence rules', () => {
    expect(req('GET / HTTP/1.1\r\nHost: a\r\n\r\n').keepAlive).toBe(true);
    expect(req('GET / HTTP/1.1\r\nHost: a\r\nConnection: Close\r\n\r\n').keepAlive).toBe(false);
    expect(req('GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade, close\r\n\r\n').keepAlive).toBe(false);
    expect(req('GET / HTTP/1.0\r\n\r\n').keepAlive).toBe(false);
    expect(req('GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n').keepAlive).toBe(true);
    expect(req('GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n').keepAlive).toBe(false);
    // HTTP/1.2 is handled as 1.1 (RFC 9110 §2.5).
    expect(req('GET / HTTP/1.2\r\nHost: a\r\n\r\n').minor).toBe(1);
  });

  it('accepts absolute-form targets and bare LF line ends, ignores a leading empty line', () => {
    const r = req('GET http://example.com:8080/x/y?q HTTP/1.1\r\nHost: example.com\r\n\r\n');
    expect(r.path).toBe('/x/y');
    expect(r.query).toBe('q');
    expect(req('GET HTTP://h HTTP/1.1\r\nHost: h\r\n\r\n').path).toBe('/');
    expect(req('GET / HTTP/1.1\nHost: a\n\n').path).toBe('/');
    expect(req('\r\nGET /z HTTP/1.1\r\nHost: a\r\n\r\n').path).toBe('/z');
    // asterisk/authority forms give an empty path (the server answers them 400/405).
    expect(req('OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n').path).toBe('');
  });

  it('returns null until the head is complete', () => {
    const p = new RequestParser();
    p.push(enc('GET / HTTP/1.1\r\nHost: a\r\n'));
    expect(p.next()).toBeNull();
    p.push(enc('\r'));
    expect(p.next()).toBeNull();
    p.push(enc('\n'));
    const r = p.next();
    expect(r && !isParseError(r) && r.path).toBe('/');
    expect(p.next()).toBeNull();
  });
});

describe('RequestParser: pipelining and chunk boundaries', () => {
  const whole = parseAll([enc(PIPELINE)]);

  it('yields pipelined requests in order and skips request bodies', () => {
    expect(whole.map((r) => (isParseError(r) ? r.status : `${r.method} ${r.path}`))).toEqual(['GET /a', 'POST /form', 'HEAD /c', 'GET /']);
    const post = whole[1] as HttpRequest;
    expect(post.contentLength).toBe(11);
    expect((whole[2] as HttpRequest).keepAlive).toBe(true);
    expect((whole[3] as HttpRequest).keepAlive).toBe(false);
  });

  it('gives the same result for a split at every byte', () => {
    const bytes = enc(PIPELINE);
    for (let i = 1; i < bytes.length; i++) {
      const got = parseAll([bytes.subarray(0, i), bytes.subarray(i)]);
      expect(got, `split at ${i}`).toEqual(whole);
    }
  });

  it('gives the same result fed one byte at a time, and three ways split', () => {
    const bytes = enc(PIPELINE);
    const single: Uint8Array[] = [];
    for (let i = 0; i < bytes.length; i++) single.push(bytes.subarray(i, i + 1));
    expect(parseAll(single)).toEqual(whole);
    for (let i = 1; i < bytes.length; i += 7) {
      for (let j = i + 1; j < bytes.length; j += 13) {
        expect(parseAll([bytes.subarray(0, i), bytes.subarray(i, j), bytes.subarray(j)])).toEqual(whole);
      }
    }
  });

  it('skips a body that arrives long after its head, in pieces', () => {
    const p = new RequestParser();
    p.push(enc('POST /u HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n'));
    expect((p.next() as HttpRequest).method).toBe('POST');
    for (let i = 0; i < 100; i++) {
      p.push(new Uint8Array(999).fill(0x47)); // 'G' bytes: must not be taken for a request
      expect(p.next()).toBeNull();
    }
    p.push(enc('x'.repeat(100)));
    expect(p.buffered).toBe(0);
    p.push(enc('GET /after HTTP/1.1\r\nHost: a\r\n\r\n'));
    expect((p.next() as HttpRequest).path).toBe('/after');
  });

  it('snapshot/restore carries pending pipelined bytes and the body skip count', () => {
    const p = new RequestParser();
    p.push(enc('POST /u HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n12345'));
    expect((p.next() as HttpRequest).path).toBe('/u');
    const s1 = p.snapshot();
    expect(s1).toEqual({ pending: new Uint8Array(0), skip: 5 });
    const q = RequestParser.restore(s1);
    q.push(enc('67890GET /n HTTP/1.1\r\nHost: a\r\n\r\nGET /m HT'));
    expect((q.next() as HttpRequest).path).toBe('/n');
    const s2 = q.snapshot();
    expect(Buffer.from(s2.pending).toString()).toBe('GET /m HT');
    const r = RequestParser.restore(s2);
    r.push(enc('TP/1.1\r\nHost: a\r\n\r\n'));
    expect((r.next() as HttpRequest).path).toBe('/m');
  });
});

describe('RequestParser: malformed input', () => {
  const cases: Array<[string, string, number]> = [
    ['space before colon', 'GET / HTTP/1.1\r\nHost : a\r\n\r\n', 400],
    ['obs-fold', 'GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n 2\r\n\r\n', 400],
    ['double space in request line', 'GET  / HTTP/1.1\r\nHost: a\r\n\r\n', 400],
    ['missing version', 'GET /\r\nHost: a\r\n\r\n', 400],
    ['bad protocol name', 'GET / HTTX/1.1\r\nHost: a\r\n\r\n', 400],
    ['HTTP/2.0', 'GET / HTTP/2.0\r\nHost: a\r\n\r\n', 505],
    ['HTTP/0.9 style', 'GET /\r\n\r\n', 400],
    ['version with letters', 'GET / HTTP/1.x\r\nHost: a\r\n\r\n', 400],
    ['missing Host in 1.1', 'GET / HTTP/1.1\r\nAccept: */*\r\n\r\n', 400],
    ['two Host fields', 'GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n', 400],
    ['Content-Length with Transfer-Encoding', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n', 400],
    ['Transfer-Encoding', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n', 501],
    ['non-numeric Content-Length', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1e3\r\n\r\n', 400],
    ['negative Content-Length', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n', 400],
    ['conflicting Content-Length', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n', 400],
    ['NUL in a field value', 'GET / HTTP/1.1\r\nHost: a\r\nX: a\u0000b\r\n\r\n', 400],
    ['bare CR in a field value', 'GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n', 400],
    ['bare CR in the request line', 'GET /\r HTTP/1.1\r\nHost: a\r\n\r\n', 400],
    ['non-token method', 'G(T / HTTP/1.1\r\nHost: a\r\n\r\n', 400],
    ['non-ASCII target', 'GET /\u00e9 HTTP/1.1\r\nHost: a\r\n\r\n', 400],
    ['empty field name', 'GET / HTTP/1.1\r\nHost: a\r\n: v\r\n\r\n', 400],
    ['fragment in target', 'GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n', 400],
    ['too many empty lines', '\r\n\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n', 400],
  ];
  for (const [name, text, status] of cases) {
    it(`${name} → ${status}`, () => {
      expect(errStatus(text)).toBe(status);
    });
  }

  it('accepts identical repeated Content-Length values', () => {
    expect(req('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\n\r\nabc').contentLength).toBe(3);
  });

  it('stops after an error: nothing more is parsed', () => {
    const p = new RequestParser();
    p.push(enc('GET / HTTP/9.9\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n'));
    const r = p.next();
    expect(isParseError(r) && r.status).toBe(505);
    expect(p.next()).toBeNull();
    p.push(enc('GET / HTTP/1.1\r\nHost: a\r\n\r\n'));
    expect(p.next()).toBeNull();
  });
});

describe('RequestParser: limits', () => {
  it('431 above 16 KiB of header fields, even before the head ends', () => {
    const p = new RequestParser();
    p.push(enc('GET / HTTP/1.1\r\nHost: a\r\n'));
    for (let i = 0; i < 20; i++) p.push(enc(`X-Pad-${i}: ${'p'.repeat(1000)}\r\n`));
    const r = p.next();
    expect(isParseError(r) && r.status).toBe(431);
    // One long unterminated line is caught too, without waiting for LF.
    const q = new RequestParser();
    q.push(enc(`GET / HTTP/1.1\r\nX: ${'v'.repeat(17000)}`));
    expect((q.next() as ParseError).status).toBe(431);
  });

  it('a head just under the limit is accepted', () => {
    const base = 'GET / HTTP/1.1\r\nHost: a\r\nX: \r\n\r\n';
    const pad = 16 * 1024 - base.length;
    const r = req(`GET / HTTP/1.1\r\nHost: a\r\nX: ${'v'.repeat(pad)}\r\n\r\n`);
    expect(r.headers['x'].length).toBe(pad);
    expect(errStatus(`GET / HTTP/1.1\r\nHost: a\r\nX: ${'v'.repeat(pad + 1)}\r\n\r\n`)).toBe(431);
  });

  it('414 for an over-long request line, 431 for too many fields', () => {
    expect(errStatus(`GET /${'a'.repeat(9000)} HTTP/1.1\r\nHost: a\r\n\r\n`)).toBe(414);
    const p = new RequestParser();
    p.push(enc(`GET /${'a'.repeat(9000)}`));
    expect((p.next() as ParseError).status).toBe(414);
    let many = 'GET / HTTP/1.1\r\nHost: a\r\n';
    for (let i = 0; i < 120; i++) many += `X${i}: 1\r\n`;
    expect(errStatus(`${many}\r\n`)).toBe(431);
  });

  it('custom limits apply', () => {
    const p = new RequestParser({ maxHeaderBytes: 64 });
    p.push(enc(`GET / HTTP/1.1\r\nHost: a\r\nX: ${'v'.repeat(60)}\r\n\r\n`));
    expect((p.next() as ParseError).status).toBe(431);
  });
});

describe('ranges and validators', () => {
  const size = 1000;
  it.each([
    ['bytes=0-9', { kind: 'single', start: 0, end: 10 }],
    ['bytes=990-', { kind: 'single', start: 990, end: 1000 }],
    ['bytes=-5', { kind: 'single', start: 995, end: 1000 }],
    ['bytes=-5000', { kind: 'single', start: 0, end: 1000 }],
    ['bytes=500-99999', { kind: 'single', start: 500, end: 1000 }],
    ['Bytes = 1-1', { kind: 'single', start: 1, end: 2 }],
    ['bytes=999-999', { kind: 'single', start: 999, end: 1000 }],
    ['bytes=1000-', { kind: 'unsatisfiable' }],
    ['bytes=1000-2000', { kind: 'unsatisfiable' }],
    ['bytes=-0', { kind: 'unsatisfiable' }],
    ['bytes=0-1,5-6', { kind: 'multi' }],
    ['bytes=0-1, 2000-3000', { kind: 'multi' }],
    ['bytes=2000-3000, 4000-', { kind: 'unsatisfiable' }],
    ['bytes=5-1', { kind: 'none' }],
    ['bytes=a-b', { kind: 'none' }],
    ['bytes=-', { kind: 'none' }],
    ['bytes=', { kind: 'none' }],
    ['items=0-1', { kind: 'none' }],
    ['0-1', { kind: 'none' }],
  ])('%s', (h, want) => {
    expect(parseRange(h, size)).toEqual(want);
  });

  it('nothing is satisfiable in an empty representation', () => {
    expect(parseRange('bytes=0-', 0)).toEqual({ kind: 'unsatisfiable' });
    expect(parseRange('bytes=-1', 0)).toEqual({ kind: 'unsatisfiable' });
    expect(parseRange(undefined, 0)).toEqual({ kind: 'none' });
  });

  it('If-None-Match uses weak comparison; If-Range strong', () => {
    expect(ifNoneMatchMatches('"abc"', '"abc"')).toBe(true);
    expect(ifNoneMatchMatches('W/"abc"', '"abc"')).toBe(true);
    expect(ifNoneMatchMatches('"x", "abc"', '"abc"')).toBe(true);
    expect(ifNoneMatchMatches('*', '"abc"')).toBe(true);
    expect(ifNoneMatchMatches('"abcd"', '"abc"')).toBe(false);
    expect(ifNoneMatchMatches('abc', '"abc"')).toBe(false);
    expect(ifRangeMatches('"abc"', '"abc"', null)).toBe(true);
    expect(ifRangeMatches('W/"abc"', '"abc"', null)).toBe(false);
    expect(ifRangeMatches('"abd"', '"abc"', null)).toBe(false);
    const lm = httpDate(Date.UTC(2020, 0, 2, 3, 4, 5));
    expect(ifRangeMatches(lm, '"abc"', lm)).toBe(true);
    expect(ifRangeMatches(lm, '"abc"', null)).toBe(false);
  });

  it('HTTP dates round-trip', () => {
    const t = Date.UTC(1994, 10, 6, 8, 49, 37);
    expect(httpDate(t)).toBe('Sun, 06 Nov 1994 08:49:37 GMT');
    expect(parseHttpDate('Sun, 06 Nov 1994 08:49:37 GMT')).toBe(t);
    expect(parseHttpDate('Sunday, 06-Nov-94 08:49:37 GMT')).toBe(t);
    expect(parseHttpDate('Sun Nov  6 08:49:37 1994')).toBe(t);
    expect(parseHttpDate('yesterday')).toBeNaN();
  });

  it('formatResponseHead writes a status line, fields and refuses CR/LF injection', () => {
    expect(formatResponseHead(206, [['Content-Length', 3]]).toString()).toBe('HTTP/1.1 206 Partial Content\r\nContent-Length: 3\r\n\r\n');
    expect(() => formatResponseHead(200, [['X', 'a\r\nSet-Cookie: x']])).toThrow(TypeError);
  });
});

describe('RequestParser: fuzz', () => {
  it('mutated and randomly chunked input never throws and always ends in requests or one error', () => {
    let x = 0x2545f491;
    const rnd = (n: number) => {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      return (x >>> 0) % n;
    };
    const base = enc(PIPELINE);
    const statuses = new Set([400, 414, 431, 501, 505]);
    let errors = 0;
    for (let round = 0; round < 3000; round++) {
      const b = Buffer.from(base);
      const edits = 1 + rnd(4);
      for (let e = 0; e < edits; e++) {
        const kind = rnd(3);
        if (kind === 0) b[rnd(b.length)] = rnd(256);
        else if (kind === 1) b[rnd(b.length)] = [0x0d, 0x0a, 0x20, 0x3a, 0x00, 0x09][rnd(6)];
        else b.copyWithin(rnd(b.length), rnd(b.length), rnd(b.length));
      }
      const p = new RequestParser({ maxHeaderBytes: 256 + rnd(2048) });
      const out: Array<HttpRequest | ParseError> = [];
      let pos = 0;
      while (pos < b.length) {
        const n = 1 + rnd(40);
        p.push(b.subarray(pos, pos + n));
        pos += n;
        for (let r = p.next(); r !== null; r = p.next()) out.push(r);
      }
      const errs = out.filter(isParseError);
      // At most one error, and it is the last thing the parser produced.
      expect(errs.length).toBeLessThanOrEqual(1);
      if (errs.length) {
        errors++;
        expect(out[out.length - 1]).toBe(errs[0]);
        expect(statuses.has(errs[0].status)).toBe(true);
      }
      for (const r of out) if (!isParseError(r)) expect(typeof r.method).toBe('string');
      expect(p.buffered).toBeLessThanOrEqual(b.length);
    }
    // The mutations do hit the error paths (the test would be vacuous otherwise).
    expect(errors).toBeGreaterThan(500);
  });
});
