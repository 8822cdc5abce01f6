/**
 * The gateway's HTTP server. Requests Node cannot parse (headers over its 16 KiB limit,
 * broken request lines) never reach the app; Node would answer them with an empty 400 or 431.
 * Here they get a problem like every other error.
 */
import http from 'node:http';
import type { Express } from 'express';
import { toJsonText } from './json.js';
import { PROBLEM_CONTENT_TYPE, problemBody, problemFor, TITLES } from './problem.js';

export function createHttpServer(app: Express): http.Server {
  const server = http.createServer(app);
  server.on('clientError', (error: NodeJS.ErrnoException, socket) => {
    // A client that went away, or a request that timed out: nobody to answer.
    if (!socket.writable || error.code === 'ECONNRESET' || error.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
      socket.destroy();
      return;
    }
    const problem =
      error.code === 'HPE_HEADER_OVERFLOW' ? problemFor('headers_too_large') : problemFor('bad_request', 'The request is not well-formed HTTP/1.1.');
    const body = toJsonText(problemBody(problem, undefined));
    socket.end(
      `HTTP/1.1 ${problem.status} ${TITLES[problem.status]}\r\nContent-Type: ${PROBLEM_CONTENT_TYPE}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  });
  return server;
}
