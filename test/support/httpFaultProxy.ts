/**
 * An HTTP proxy the test controls, in front of a real gateway: what a client sees when the
 * network between it and the gateway misbehaves. Every request is recorded (method, URL,
 * headers, `Idempotency-Key`, body) and passed through unchanged, unless a queued fault matches
 * it (by method and path prefix); each fault applies to one request, in the order queued:
 *
 * - `drop_response`: the request reaches the gateway, which does the work and answers; the proxy
 *   reads the whole answer and then cuts the client's connection without sending any of it (a
 *   load balancer dying mid-answer: the work is done, the caller cannot know);
 * - `status`: the proxy answers itself with a status, headers and a problem+json body, and the
 *   gateway never sees the request (a 429 or 503 from something in front of the gateway);
 * - `hold`: the request reaches the gateway, and its answer is relayed `ms` later, or never (a
 *   slow network, for the client's timeout).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

interface FaultMatch {
  /** The request method, e.g. `POST`. */
  method: string;
  /** A prefix of the request's path (query left out), e.g. `/v1/invoices`. */
  path: string;
}

export type Fault = FaultMatch &
  (
    | { kind: 'drop_response' }
    | { kind: 'status'; status: number; headers?: Record<string, string>; problem: Record<string, unknown> }
    | { kind: 'hold'; ms: number | 'forever' }
  );

export interface RecordedRequest {
  method: string;
  /** Path and query, as the client sent them. */
  url: string;
  /** Lower-case names, as node:http gives them. */
  headers: http.IncomingHttpHeaders;
  idempotencyKey: string | undefined;
  body: string;
  /** The fault applied to this request, if one was. */
  fault: Fault['kind'] | undefined;
}

/** Headers that belong to one connection, not to the message: never relayed. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'content-length', 'host']);

export class HttpFaultProxy {
  readonly requests: RecordedRequest[] = [];
  private readonly faults: Fault[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly upstreamAgent = new http.Agent({ keepAlive: false });
  private readonly target: URL;
  private readonly server: http.Server;

  private constructor(target: string) {
    this.target = new URL(target);
    this.server = http.createServer((req, res) => this.handle(req, res));
  }

  /** A proxy on a free port of 127.0.0.1 in front of `target` (`http://host:port`). */
  static async start(target: string): Promise<HttpFaultProxy> {
    const proxy = new HttpFaultProxy(target);
    await new Promise<void>((resolve) => proxy.server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  /** `http://127.0.0.1:<port>`, no trailing slash. */
  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Queues `fault` for the next `times` requests it matches. */
  inject(fault: Fault, times = 1): void {
    for (let i = 0; i < times; i++) this.faults.push(fault);
  }

  /** Faults queued and not yet applied. */
  get pendingFaults(): number {
    return this.faults.length;
  }

  /** The recorded requests with this method whose path starts with `path`. */
  requestsTo(method: string, path: string): RecordedRequest[] {
    return this.requests.filter((one) => one.method === method && pathOf(one.url).startsWith(path));
  }

  /** Forgets what was recorded and every fault still queued. */
  reset(): void {
    this.requests.length = 0;
    this.faults.length = 0;
  }

  async close(): Promise<void> {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    this.upstreamAgent.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const method = req.method ?? 'GET';
      const url = req.url ?? '/';
      const index = this.faults.findIndex((fault) => fault.method === method && pathOf(url).startsWith(fault.path));
      const fault = index === -1 ? undefined : this.faults.splice(index, 1)[0];
      const idempotencyKey = req.headers['idempotency-key'];
      this.requests.push({
        method,
        url,
        headers: req.headers,
        idempotencyKey: typeof idempotencyKey === 'string' ? idempotencyKey : undefined,
        body: body.toString('utf8'),
        fault: fault?.kind,
      });

      if (fault?.kind === 'status') {
        const text = JSON.stringify(fault.problem);
        res.writeHead(fault.status, { 'content-type': 'application/problem+json', 'content-length': Buffer.byteLength(text), ...fault.headers }).end(text);
        return;
      }
      this.forward(req, body).then(
        (answer) => {
          if (fault?.kind === 'drop_response') {
            // The gateway has answered in full; the client gets a cut connection instead.
            req.socket.destroy();
            return;
          }
          const relay = () => {
            if (res.destroyed || req.socket.destroyed) return;
            res.writeHead(answer.status, { ...answer.headers, 'content-length': answer.body.length }).end(answer.body);
          };
          if (fault?.kind !== 'hold') return relay();
          if (fault.ms === 'forever') return;
          const timer = setTimeout(() => {
            this.timers.delete(timer);
            relay();
          }, fault.ms);
          this.timers.add(timer);
        },
        () => req.socket.destroy(),
      );
    });
  }

  /** The gateway's whole answer to the request. */
  private forward(req: http.IncomingMessage, body: Buffer): Promise<{ status: number; headers: http.OutgoingHttpHeaders; body: Buffer }> {
    return new Promise((resolve, reject) => {
      const headers: http.OutgoingHttpHeaders = {};
      for (const [name, value] of Object.entries(req.headers)) if (!HOP_BY_HOP.has(name) && value !== undefined) headers[name] = value;
      headers['content-length'] = body.length;
      const upstream = http.request(
        { host: this.target.hostname, port: this.target.port, method: req.method, path: req.url, headers, agent: this.upstreamAgent },
        (answer) => {
          const chunks: Buffer[] = [];
          answer.on('data', (chunk: Buffer) => chunks.push(chunk));
          answer.on('error', reject);
          answer.on('end', () => {
            const relayed: http.OutgoingHttpHeaders = {};
            for (const [name, value] of Object.entries(answer.headers)) if (!HOP_BY_HOP.has(name) && value !== undefined) relayed[name] = value;
            resolve({ status: answer.statusCode ?? 502, headers: relayed, body: Buffer.concat(chunks) });
          });
        },
      );
      upstream.on('error', reject);
      upstream.end(body);
    });
  }
}

function pathOf(url: string): string {
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}
