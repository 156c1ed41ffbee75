/**
 * A small, strict, incremental HTTP/1.1 request parser and a response-head writer.
 *
 * Read this first:
 * - `RequestParser.push(chunk)` appends bytes as they arrive; `next()` returns the next complete
 *   request head, a `ParseError` (after which the connection must be answered and closed: its
 *   framing is lost), or `null` when more bytes are needed. Requests come out strictly in order,
 *   so pipelined requests (RFC 9112 §9.3.2) are answered in order by a caller that asks for the
 *   next one only after finishing the previous response.
 * - Only the head is parsed. A request body announced by Content-Length is skipped (consumed and
 *   discarded) so the next pipelined request is found; Transfer-Encoding on a request is refused
 *   (501, or 400 together with Content-Length: RFC 9112 §6.1 request-smuggling rule).
 * - Every limit is a number in `ParserLimits`: the head is bounded (431 above `maxHeaderBytes`,
 *   414 for an over-long request line), so a peer cannot make the parser buffer without bound.
 * - The parser state is plain data (`snapshot()`/`RequestParser.restore()`), so an application
 *   checkpoint can carry the bytes of pipelined requests already read from the socket.
 */

/** A parsed request head. Header names are lower-case; repeated fields are joined with ", ". */
export interface HttpRequest {
  method: string;
  /** The request-target exactly as sent. */
  target: string;
  /** The path of an origin-form or absolute-form target (still %-encoded); '' for other forms. */
  path: string;
  /** The query after '?', without the '?' ('' when none). */
  query: string;
  /** HTTP minor version: 0 or 1 (1.2+ is handled as 1.1, RFC 9110 §2.5). */
  minor: 0 | 1;
  headers: Record<string, string>;
  /** Whether the connection stays open after the response (RFC 9112 §9.3). */
  keepAlive: boolean;
  /** Declared request body length (skipped by the parser). */
  contentLength: number;
}

/** A request that cannot be parsed: answer with `status` and close the connection. */
export interface ParseError {
  error: true;
  status: 400 | 414 | 431 | 501 | 505;
  reason: string;
}

export interface ParserLimits {
  /** Most bytes of a request head (request line + fields + blank line). Default 16 KiB. */
  maxHeaderBytes?: number;
  /** Most bytes of the request line. Default 8 KiB. */
  maxRequestLine?: number;
  /** Most header fields. Default 100. */
  maxHeaders?: number;
  /** Empty lines tolerated before a request line (RFC 9112 §2.2). Default 4. */
  maxEmptyLines?: number;
}

/** Plain-data state of a parser (for application checkpoints). */
export interface ParserSnapshot {
  /** Received bytes not yet parsed (pipelined requests). */
  pending: Uint8Array;
  /** Bytes of the current request body still to be discarded. */
  skip: number;
}

const LF = 0x0a;
const CR = 0x0d;
const SP = 0x20;
const HTAB = 0x09;
const COLON = 0x3a;

/** tchar (RFC 9110 §5.6.2). */
const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~") TCHAR[c.charCodeAt(0)] = 1;
for (let c = 0x30; c <= 0x39; c++) TCHAR[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) TCHAR[c] = 1;
for (let c = 0x61; c <= 0x7a; c++) TCHAR[c] = 1;

/** field-vchar / SP / HTAB / obs-text (RFC 9110 §5.5); every other CTL, incl. a bare CR, is refused. */
const FIELD_CHAR = new Uint8Array(256);
FIELD_CHAR[HTAB] = 1;
for (let c = 0x20; c <= 0x7e; c++) FIELD_CHAR[c] = 1;
for (let c = 0x80; c <= 0xff; c++) FIELD_CHAR[c] = 1;

function fail(status: ParseError['status'], reason: string): ParseError {
  return { error: true, status, reason };
}

function latin1(buf: Uint8Array, start: number, end: number): string {
  return Buffer.from(buf.buffer, buf.byteOffset + start, end - start).toString('latin1');
}

export function isParseError(x: HttpRequest | ParseError | null): x is ParseError {
  return x !== null && (x as ParseError).error === true;
}

export class RequestParser {
  private readonly maxHeaderBytes: number;
  private readonly maxRequestLine: number;
  private readonly maxHeaders: number;
  private readonly maxEmptyLines: number;
  /** Received bytes [0, len) not yet consumed. */
  private buf: Uint8Array;
  private len = 0;
  /** Where the next search for LF starts (so byte-at-a-time input stays linear). */
  private scan = 0;
  /** Start of the current line. */
  private lineStart = 0;
  /** Start of the request line (after tolerated empty lines). -1: not seen yet. */
  private headStart = -1;
  private emptyLines = 0;
  /** [start, end) of every line of the current head, CR stripped. */
  private lines: number[] = [];
  private skip = 0;
  private failed = false;

  constructor(limits: ParserLimits = {}) {
    this.maxHeaderBytes = limits.maxHeaderBytes ?? 16 * 1024;
    this.maxRequestLine = Math.min(limits.maxRequestLine ?? 8 * 1024, this.maxHeaderBytes);
    this.maxHeaders = limits.maxHeaders ?? 100;
    this.maxEmptyLines = limits.maxEmptyLines ?? 4;
    this.buf = new Uint8Array(1024);
  }

  /** Rebuild a parser from `snapshot()` output. */
  static restore(s: ParserSnapshot, limits: ParserLimits = {}): RequestParser {
    const p = new RequestParser(limits);
    p.skip = s.skip;
    p.push(s.pending);
    return p;
  }

  /** Plain-data copy of the parser state (pending bytes are copied). */
  snapshot(): ParserSnapshot {
    return { pending: this.buf.slice(0, this.len), skip: this.skip };
  }

  /** Bytes received and not yet consumed (pipelined requests waiting). */
  get buffered(): number {
    return this.len;
  }

  /** Append received bytes. Body bytes of the current request are discarded here. */
  push(chunk: Uint8Array): void {
    if (this.failed || chunk.length === 0) return;
    let off = 0;
    if (this.skip > 0 && this.len === 0) {
      const n = Math.min(this.skip, chunk.length);
      this.skip -= n;
      off = n;
      if (off === chunk.length) return;
    }
    const need = this.len + chunk.length - off;
    if (need > this.buf.length) {
      let cap = this.buf.length;
      while (cap < need) cap *= 2;
      const nb = new Uint8Array(cap);
      nb.set(this.buf.subarray(0, this.len));
      this.buf = nb;
    }
    this.buf.set(off === 0 ? chunk : chunk.subarray(off), this.len);
    this.len += chunk.length - off;
  }

  /** The next complete request, a parse error (then stop), or null (need more bytes). */
  next(): HttpRequest | ParseError | null {
    if (this.failed) return null;
    const r = this.scanHead();
    if (r !== null && isParseError(r)) {
      this.failed = true;
      this.len = 0;
    }
    return r;
  }

  private scanHead(): HttpRequest | ParseError | null {
    const buf = this.buf;
    for (;;) {
      let i = this.scan;
      while (i < this.len && buf[i] !== LF) i++;
      if (i >= this.len) {
        this.scan = this.len;
        // No complete line yet: enforce the limits on what is buffered so far.
        if (this.headStart < 0) {
          if (this.len - this.lineStart > this.maxRequestLine) return fail(414, 'request line too long');
        } else if (this.len - this.headStart > this.maxHeaderBytes) {
          return fail(431, 'request header fields too large');
        }
        return null;
      }
      // A line [lineStart, end) ends at LF i; a CR before the LF belongs to the terminator.
      let end = i;
      if (end > this.lineStart && buf[end - 1] === CR) end--;
      const start = this.lineStart;
      this.lineStart = this.scan = i + 1;
      if (this.headStart < 0) {
        if (end === start) {
          // RFC 9112 §2.2: ignore a few empty lines before the request line.
          if (++this.emptyLines > this.maxEmptyLines) return fail(400, 'too many empty lines');
          continue;
        }
        if (end - start > this.maxRequestLine) return fail(414, 'request line too long');
        this.headStart = start;
        this.lines.push(start, end);
        continue;
      }
      if (i + 1 - this.headStart > this.maxHeaderBytes) return fail(431, 'request header fields too large');
      if (end === start) return this.finishHead(i + 1);
      if (this.lines.length / 2 > this.maxHeaders) return fail(431, 'too many header fields');
      this.lines.push(start, end);
    }
  }

  /** The head ends just before `headEnd`: parse it, consume it, set up body skipping. */
  private finishHead(headEnd: number): HttpRequest | ParseError {
    const res = this.parseHead();
    if (isParseError(res)) return res;
    // Consume the head, then whatever body bytes are already buffered.
    let consumed = headEnd;
    const bodyHere = Math.min(res.contentLength, this.len - consumed);
    consumed += bodyHere;
    this.skip = res.contentLength - bodyHere;
    this.buf.copyWithin(0, consumed, this.len);
    this.len -= consumed;
    this.scan = this.lineStart = 0;
    this.headStart = -1;
    this.emptyLines = 0;
    this.lines.length = 0;
    return res;
  }

  private parseHead(): HttpRequest | ParseError {
    const buf = this.buf;
    const lines = this.lines;
    // Request line (RFC 9112 §3): method SP request-target SP HTTP-version.
    const ls = lines[0];
    const le = lines[1];
    let p = ls;
    while (p < le && TCHAR[buf[p]]) p++;
    if (p === ls || p >= le || buf[p] !== SP) return fail(400, 'bad method');
    const method = latin1(buf, ls, p);
    const ts = ++p;
    // request-target: visible ASCII only (RFC 3986 characters; no SP, CTL or non-ASCII).
    while (p < le && buf[p] > SP && buf[p] < 0x7f) p++;
    if (p === ts || p >= le || buf[p] !== SP) return fail(400, 'bad request-target');
    const target = latin1(buf, ts, p);
    p++;
    if (le - p !== 8) return fail(400, 'bad HTTP version');
    const version = latin1(buf, p, le);
    const vm = /^HTTP\/(\d)\.(\d)$/.exec(version);
    if (!vm) return fail(400, 'bad HTTP version');
    if (vm[1] !== '1') return fail(505, 'HTTP version not supported');
    const minor: 0 | 1 = vm[2] === '0' ? 0 : 1;

    // Header fields (RFC 9112 §5).
    const headers: Record<string, string> = Object.create(null);
    let hostCount = 0;
    let contentLength = -1;
    let transferEncoding = false;
    for (let k = 2; k < lines.length; k += 2) {
      const s = lines[k];
      const e = lines[k + 1];
      // obs-fold (RFC 9112 §5.2) is refused.
      if (buf[s] === SP || buf[s] === HTAB) return fail(400, 'obsolete line folding');
      let q = s;
      while (q < e && TCHAR[buf[q]]) q++;
      // No whitespace between the field name and the colon (RFC 9112 §5.1).
      if (q === s || q >= e || buf[q] !== COLON) return fail(400, 'bad header field name');
      const name = latin1(buf, s, q).toLowerCase();
      let vs = q + 1;
      let ve = e;
      for (let x = vs; x < ve; x++) if (!FIELD_CHAR[buf[x]]) return fail(400, 'bad character in header field');
      while (vs < ve && (buf[vs] === SP || buf[vs] === HTAB)) vs++;
      while (ve > vs && (buf[ve - 1] === SP || buf[ve - 1] === HTAB)) ve--;
      const value = latin1(buf, vs, ve);
      if (name === 'host') {
        if (++hostCount > 1) return fail(400, 'more than one Host');
      } else if (name === 'content-length') {
        // RFC 9110 §8.6: digits only; a list of identical values is the same length.
        for (const part of value.split(',')) {
          const t = part.trim();
          if (!/^\d{1,15}$/.test(t)) return fail(400, 'bad Content-Length');
          const n = Number(t);
          if (contentLength >= 0 && n !== contentLength) return fail(400, 'conflicting Content-Length');
          contentLength = n;
        }
      } else if (name === 'transfer-encoding') {
        transferEncoding = true;
      }
      const prev = headers[name];
      headers[name] = prev === undefined ? value : `${prev}, ${value}`;
    }
    // RFC 9112 §6.1: Transfer-Encoding with Content-Length is a smuggling attempt; we do not
    // take request bodies in transfer codings at all.
    if (transferEncoding) {
      return contentLength >= 0 ? fail(400, 'Transfer-Encoding with Content-Length') : fail(501, 'request Transfer-Encoding not implemented');
    }
    // RFC 9112 §3.2: a 1.1 request without exactly one Host is a 400.
    if (minor === 1 && hostCount === 0) return fail(400, 'missing Host');

    let path = '';
    let query = '';
    let pathAndQuery: string | null = null;
    if (target.charCodeAt(0) === 0x2f /* '/' */) {
      pathAndQuery = target;
    } else {
      // absolute-form (RFC 9112 §3.2.2): servers must accept it.
      const m = /^https?:\/\/[^/?#]+(.*)$/i.exec(target);
      if (m) pathAndQuery = m[1] === '' || m[1][0] === '?' ? `/${m[1]}` : m[1];
    }
    if (pathAndQuery !== null) {
      if (pathAndQuery.includes('#')) return fail(400, 'fragment in request-target');
      const qi = pathAndQuery.indexOf('?');
      path = qi < 0 ? pathAndQuery : pathAndQuery.slice(0, qi);
      query = qi < 0 ? '' : pathAndQuery.slice(qi + 1);
    }

    // Persistence (RFC 9112 §9.3): 1.1 persists unless "close"; 1.0 only with "keep-alive".
    const conn = headers['connection'];
    let close = false;
    let keep = false;
    if (conn !== undefined) {
      for (const tok of conn.split(',')) {
        const t = tok.trim().toLowerCase();
        if (t === 'close') close = true;
        else if (t === 'keep-alive') keep = true;
      }
    }
    const keepAlive = !close && (minor === 1 || keep);
    return { method, target, path, query, minor, headers, keepAlive, contentLength: Math.max(0, contentLength) };
  }
}

const STATUS_TEXT: Record<number, string> = {
  200: 'OK',
  206: 'Partial Content',
  301: 'Moved Permanently',
  304: 'Not Modified',
  400: 'Bad Request',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  414: 'URI Too Long',
  416: 'Range Not Satisfiable',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  503: 'Service Unavailable',
  505: 'HTTP Version Not Supported',
};

/** The reason phrase for a status code ('' if unknown; RFC 9112 §4 allows an empty one). */
export function statusText(status: number): string {
  return STATUS_TEXT[status] ?? '';
}

let dateCacheSecond = -1;
let dateCacheValue = '';

/** IMF-fixdate (RFC 9110 §5.6.7) of `ms`, cached per second. */
export function httpDate(ms: number): string {
  const sec = Math.floor(ms / 1000);
  if (sec === dateCacheSecond) return dateCacheValue;
  const s = new Date(sec * 1000).toUTCString();
  // toUTCString() is "Sun, 06 Nov 1994 08:49:37 GMT" (IMF-fixdate) in every current engine.
  dateCacheSecond = sec;
  dateCacheValue = s;
  return s;
}

/** Parse an HTTP-date (IMF-fixdate and the two obsolete forms, RFC 9110 §5.6.7); NaN if invalid. */
export function parseHttpDate(s: string): number {
  if (!/^[A-Za-z]{3,9}, [0-9A-Za-z :-]+ GMT$|^[A-Za-z]{3} [A-Za-z]{3} [ \d]\d \d\d:\d\d:\d\d \d{4}$/.test(s)) return NaN;
  return Date.parse(s.endsWith('GMT') ? s : `${s} GMT`);
}

export type HeaderList = Array<[string, string | number]>;

/** Serialize a response head: status line, fields, blank line (RFC 9112 §4, §5). */
export function formatResponseHead(status: number, headers: HeaderList): Buffer {
  let s = `HTTP/1.1 ${status} ${statusText(status)}\r\n`;
  for (const [name, value] of headers) {
    const v = String(value);
    // A CR or LF inside a value would split the response: refuse it outright (caller bug).
    if (/[\r\n]/.test(v) || /[\r\n:]/.test(name)) throw new TypeError(`invalid header ${name}`);
    s += `${name}: ${v}\r\n`;
  }
  s += '\r\n';
  return Buffer.from(s, 'latin1');
}

// ---------------------------------------------------------------------------------------------
// Ranges and validators (RFC 9110 §13, §14)
// ---------------------------------------------------------------------------------------------

/** Outcome of a Range header against a representation of `size` bytes. */
export type RangeResult =
  /** No usable Range (absent, other unit, or invalid syntax: RFC 9110 §14.2 says ignore it). */
  | { kind: 'none' }
  /** One satisfiable range [start, end) (end exclusive). */
  | { kind: 'single'; start: number; end: number }
  /** Several ranges, at least one satisfiable: we answer 200 with the full body. */
  | { kind: 'multi' }
  /** No range is satisfiable: 416 with `Content-Range: bytes * /size`. */
  | { kind: 'unsatisfiable' };

const MAX_RANGES = 32;

/**
 * Parse `Range: bytes=a-b, a-, -n` (RFC 9110 §14.1.2) against `size`. `a-b` is clamped to the end,
 * `-n` is the last n bytes (n = 0 is unsatisfiable), `a` ≥ size is unsatisfiable.
 */
export function parseRange(header: string | undefined, size: number): RangeResult {
  if (header === undefined) return { kind: 'none' };
  const eq = header.indexOf('=');
  if (eq < 0 || header.slice(0, eq).trim().toLowerCase() !== 'bytes') return { kind: 'none' };
  const specs = header.slice(eq + 1).split(',');
  if (specs.length > MAX_RANGES) return { kind: 'none' };
  const sat: Array<[number, number]> = [];
  let nonEmpty = 0;
  for (const raw of specs) {
    const spec = raw.trim();
    if (spec === '') continue; // RFC 9110 §5.6.1: empty list elements are ignored
    nonEmpty++;
    const m = /^(\d{0,16})-(\d{0,16})$/.exec(spec);
    if (!m || (m[1] === '' && m[2] === '')) return { kind: 'none' };
    if (m[1] === '') {
      const n = Number(m[2]);
      if (n > 0 && size > 0) sat.push([Math.max(0, size - n), size]);
      continue;
    }
    const a = Number(m[1]);
    if (m[2] !== '') {
      const b = Number(m[2]);
      if (b < a) return { kind: 'none' }; // invalid range-spec (§14.1.1): ignore the header
      if (a < size) sat.push([a, Math.min(b + 1, size)]);
    } else if (a < size) {
      sat.push([a, size]);
    }
  }
  if (nonEmpty === 0) return { kind: 'none' };
  if (sat.length === 0) return { kind: 'unsatisfiable' };
  if (nonEmpty === 1) return { kind: 'single', start: sat[0][0], end: sat[0][1] };
  return { kind: 'multi' };
}

/** Split an entity-tag list (RFC 9110 §8.8.3); null for "*". Malformed members are dropped. */
function etagList(value: string): string[] | null {
  if (value.trim() === '*') return null;
  const out: string[] = [];
  const re = /\s*((?:W\/)?"[^"]*")\s*(?:,|$)/gy;
  let m: RegExpExecArray | null;
  while ((m = re.exec(value)) !== null) {
    out.push(m[1]);
    if (re.lastIndex >= value.length) break;
  }
  return out;
}

function opaque(tag: string): string {
  return tag.startsWith('W/') ? tag.slice(2) : tag;
}

/** If-None-Match evaluation with weak comparison (RFC 9110 §13.1.2): true = "matches" (→ 304). */
export function ifNoneMatchMatches(header: string, etag: string): boolean {
  const list = etagList(header);
  if (list === null) return true;
  const mine = opaque(etag);
  return list.some((t) => opaque(t) === mine);
}

/**
 * If-Range (RFC 9110 §13.1.5): the Range applies only when the validator matches — an entity tag
 * by strong comparison, or an HTTP-date equal to Last-Modified.
 */
export function ifRangeMatches(header: string, etag: string, lastModified: string | null): boolean {
  const v = header.trim();
  if (v.startsWith('"') || v.startsWith('W/')) return !v.startsWith('W/') && !etag.startsWith('W/') && v === etag;
  return lastModified !== null && v === lastModified;
}
