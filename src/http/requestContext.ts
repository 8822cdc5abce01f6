/**
 * Request ids and access logs: every response carries `X-Request-Id`, every request one log line.
 */
import { randomUUID } from 'node:crypto';
import type { Request, RequestHandler } from 'express';
import type { Logger } from '../platform/log.js';
import type { HttpMetrics } from '../platform/metrics.js';

const CLIENT_REQUEST_ID = /^[A-Za-z0-9._:-]{8,128}$/;

/**
 * Adopts a well-formed `X-Request-Id` from the caller (so a clinic can trace its own call),
 * otherwise makes one; logs method, route, status and duration when the response ends.
 * Bodies, query strings and headers are never logged: they may carry tokens or patient data.
 */
/**
 * What a request is counted and logged under: its route pattern (`/v1/invoices/:id`), the mount
 * path of a static folder it was served from, or `unmatched`. Never the raw path, so a caller
 * cannot mint a new metrics series (or log key) with every made-up URL.
 */
export function routeLabel(req: Request, status: number): string {
  const pattern = req.route?.path as string | undefined;
  if (pattern !== undefined) return pattern;
  return status < 400 && req.baseUrl ? req.baseUrl : 'unmatched';
}

export function requestContext(logger: Logger, metrics: HttpMetrics): RequestHandler {
  return (req, res, next) => {
    const offered = req.get('x-request-id');
    const requestId = offered && CLIENT_REQUEST_ID.test(offered) ? offered : `req_${randomUUID().replaceAll('-', '')}`;
    res.locals.requestId = requestId;
    res.setHeader('X-Request-Id', requestId);
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const route = routeLabel(req, res.statusCode);
      metrics.observe(req.method, route, res.statusCode, seconds);
      logger.info({ req_id: requestId, method: req.method, route, status: res.statusCode, duration_ms: Math.round(seconds * 1000) }, 'request');
    });
    next();
  };
}
