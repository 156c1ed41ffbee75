import { createHash } from 'node:crypto';
import * as http from 'node:http';
import * as net from 'node:net';

export interface Got {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  reused: boolean;
}

/** One request with Node's http client. */
export function request(
  port: number,
  path: string,
  opts: { method?: string; headers?: Record<string, string>; agent?: http.Agent | false; host?: string; createConnection?: () => net.Socket } = {},
): Promise<Got> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: opts.host ?? '127.0.0.1',
        port,
        path,
        method: opts.method ?? 'GET',
        headers: opts.headers,
        // Node ignores options.createConnection whenever an agent is in play.
        ...(opts.createConnection ? { createConnection: opts.createConnection } : { agent: opts.agent ?? false }),
      },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts), reused: req.reusedSocket }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** GET streaming into SHA-256 (for large bodies). */
export function hashGet(port: number, path: string, host = '127.0.0.1', createConnection?: () => net.Socket): Promise<{ status: number; bytes: number; sha256: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host, port, path, ...(createConnection ? { createConnection } : { agent: false }) }, (res) => {
      const h = createHash('sha256');
      let bytes = 0;
      res.on('data', (c: Buffer) => {
        h.update(c);
        bytes += c.length;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes, sha256: h.digest('hex') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

export function sha256(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

/**
 * Send raw bytes on a fresh TCP connection and collect everything until the server closes it
 * (or `idleMs` passes without data, then the socket is destroyed).
 */
export function raw(port: number, data: string | Buffer, opts: { idleMs?: number; end?: boolean } = {}): Promise<{ bytes: Buffer; closedByServer: boolean }> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    const parts: Buffer[] = [];
    let timer: NodeJS.Timeout | null = null;
    let done = false;
    const finish = (closedByServer: boolean) => {
      if (done) return;
      done = true;
      if (timer) clearTimeout(timer);
      s.destroy();
      resolve({ bytes: Buffer.concat(parts), closedByServer });
    };
    const arm = () => {
      if (timer) clearTimeout(timer);
      timer = setTimeout(() => finish(false), opts.idleMs ?? 1500);
    };
    s.on('connect', () => {
      s.write(data);
      if (opts.end) s.end();
      arm();
    });
    s.on('data', (c: Buffer) => {
      parts.push(c);
      arm();
    });
    s.on('end', () => finish(true));
    s.on('error', (e) => (done ? undefined : reject(e)));
  });
}

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  /** Offset of the first body byte in the connection's byte stream. */
  bodyOffset: number;
}

/** Split a byte stream of HTTP/1.1 responses (Content-Length framed; `heads` = methods, HEAD has no body). */
export function splitResponses(bytes: Buffer, methods: string[]): RawResponse[] {
  const out: RawResponse[] = [];
  let pos = 0;
  for (const m of methods) {
    const end = bytes.indexOf('\r\n\r\n', pos);
    if (end < 0) break;
    const lines = bytes.subarray(pos, end).toString('latin1').split('\r\n');
    const status = Number(lines[0].split(' ')[1]);
    const headers: Record<string, string> = {};
    for (const l of lines.slice(1)) {
      const i = l.indexOf(':');
      headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim();
    }
    const len = m === 'HEAD' || status === 304 ? 0 : Number(headers['content-length'] ?? 0);
    const bodyOffset = end + 4;
    out.push({ status, headers, body: bytes.subarray(bodyOffset, bodyOffset + len), bodyOffset });
    pos = bodyOffset + len;
  }
  return out;
}
