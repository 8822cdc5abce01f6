import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { closeServer } from '../src/main.js';
import { waitFor } from '../src/platform/waitFor.js';

function get(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

describe('closeServer (graceful shutdown of HTTP)', () => {
  it('lets an in-flight request finish, refuses new connections, and resolves once drained', async () => {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let inFlight = 0;
    const server = http.createServer(async (_req, res) => {
      inFlight += 1;
      await released;
      res.end('finished');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;

    const slow = get(port, '/slow');
    await waitFor(() => inFlight === 1, { what: 'the request to arrive', timeoutMs: 5000 });
    let closed = false;
    const closing = closeServer(server, 10_000).then(() => (closed = true));

    await expect(get(port, '/late')).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    expect(closed).toBe(false);
    release();
    expect(await slow).toEqual({ status: 200, body: 'finished' });
    await closing;
    expect(closed).toBe(true);
  });

  it('cuts connections still open after the timeout', async () => {
    const server = http.createServer(() => {
      // Never answers.
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const hanging = get(port, '/hang').catch((error: NodeJS.ErrnoException) => error.code);
    await waitFor(async () => (await new Promise<number>((resolve) => server.getConnections((_e, count) => resolve(count)))) === 1, {
      what: 'the connection',
      timeoutMs: 5000,
    });
    const started = Date.now();
    await closeServer(server, 300);
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect(await hanging).toBe('ECONNRESET');
  });
});
