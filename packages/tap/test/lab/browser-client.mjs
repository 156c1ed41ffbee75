// A browser-like HTTP client for the lab: Node's own fetch (undici, keep-alive connection pool),
// run inside the client namespace by clients-more.test.ts. Usage:
//   node browser-client.mjs <base-url> <page> <resource>...
// Loads the page, then all resources in parallel (several connections), then a second round on the
// kept-alive connections: a Range request and a conditional request (If-None-Match -> 304).
// Prints one JSON line: [{ path, status, sha256, length, etag, contentRange }] in request order.
import { createHash } from 'node:crypto';

const [base, page, ...resources] = process.argv.slice(2);
const timeout = AbortSignal.timeout(60_000);

async function get(path, headers = {}) {
  const res = await fetch(base + path, { headers, signal: timeout });
  const body = Buffer.from(await res.arrayBuffer());
  return {
    path,
    status: res.status,
    sha256: createHash('sha256').update(body).digest('hex'),
    length: body.length,
    etag: res.headers.get('etag'),
    contentRange: res.headers.get('content-range'),
  };
}

const out = [];
const first = await get(page);
out.push(first);
out.push(...(await Promise.all(resources.map((r) => get(r)))));
// Second round, like a reload: revalidate the page, resume a resource with a Range request.
out.push(
  ...(await Promise.all([
    get(page, { 'if-none-match': first.etag ?? '"none"' }),
    get(resources[0], { range: 'bytes=1000-50999' }),
  ])),
);
process.stdout.write(JSON.stringify(out) + '\n');
