/**
 * RFC 9457 problem details: the one shape every error response of the API takes.
 */
import type { ErrorRequestHandler, RequestHandler, Response } from 'express';
import { ClinicPayError } from '../errors.js';
import type { Logger } from '../log.js';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

export interface Problem {
  /** Stable snake_case identifier; the `type` URI is derived from it. */
  code: string;
  status: number;
  title: string;
  detail?: string;
  param?: string;
  [extension: string]: unknown;
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

/** The `type` URI of a problem code; relative, so it resolves against the gateway serving it. */
export function problemType(code: string): string {
  return `/problems/${code}`;
}

/** Writes `problem` as an `application/problem+json` response. */
export function sendProblem(res: Response, problem: Problem): void {
  const { code, status, title, detail, param, ...extensions } = problem;
  const body = {
    type: problemType(code),
    title,
    status,
    ...(detail === undefined ? {} : { detail }),
    code,
    ...(param === undefined ? {} : { param }),
    ...extensions,
    ...(res.locals.requestId ? { request_id: res.locals.requestId as string } : {}),
  };
  res.status(status).type(PROBLEM_CONTENT_TYPE).send(JSON.stringify(body));
}

/** The problem for a status with a standard title. */
export function problemFor(status: number, code: string, detail?: string, param?: string): Problem {
  return { status, code, title: TITLES[status] ?? 'Error', ...(detail === undefined ? {} : { detail }), ...(param === undefined ? {} : { param }) };
}

/** Final handler for routes nobody matched. */
export const notFoundHandler: RequestHandler = (req, res) => {
  sendProblem(res, problemFor(404, 'not_found', `No route for ${req.method} ${req.path}.`));
};

interface BodyParserError {
  type?: string;
  status?: number;
  limit?: number;
}

/**
 * Maps every error to a problem: known errors to their own code, body-parser failures to
 * 400/413/415, and anything else to a 500 that reveals nothing about the inside.
 */
export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (err: unknown, req, res, next) => {
    if (res.headersSent) {
      next(err);
      return;
    }
    if (err instanceof ClinicPayError) {
      sendProblem(res, {
        ...problemFor(err.status, err.code, err.message, err.param),
        ...(err.details ?? {}),
      });
      return;
    }
    const parserError = err as BodyParserError;
    switch (parserError?.type) {
      case 'entity.parse.failed':
        sendProblem(res, problemFor(400, 'malformed_json', 'The request body is not valid JSON.'));
        return;
      case 'entity.too.large':
        sendProblem(res, problemFor(413, 'body_too_large', `The request body is larger than ${parserError.limit} bytes.`));
        return;
      case 'charset.unsupported':
      case 'encoding.unsupported':
        sendProblem(res, problemFor(415, 'unsupported_encoding', 'The request body encoding is not supported.'));
        return;
    }
    if (typeof parserError?.status === 'number' && parserError.status >= 400 && parserError.status < 500) {
      sendProblem(res, problemFor(parserError.status, 'bad_request', 'The request could not be read.'));
      return;
    }
    logger.error({ err, req_id: res.locals.requestId, method: req.method, path: req.path }, 'unhandled error');
    sendProblem(res, problemFor(500, 'internal_error', 'Something went wrong on our side. The request id identifies it in our logs.'));
  };
}
