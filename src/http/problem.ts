/**
 * RFC 9457 problem details: the one shape every error response of the API takes.
 */
import type { ErrorRequestHandler, RequestHandler, Response } from 'express';
import { ClinicPayError } from '../platform/errors.js';
import { errorSummary, type Logger } from '../platform/log.js';
import { PROBLEMS, type ProblemCode, problemType } from '../platform/problems.js';
import { RateLimitedError } from './errors.js';
import { toJsonText } from './json.js';
import { routeLabel } from './requestContext.js';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

export interface Problem {
  /** Stable snake_case identifier from the catalogue; the `type` URI is derived from it. */
  code: ProblemCode;
  status: number;
  title: string;
  detail?: string;
  param?: string;
  [extension: string]: unknown;
}

/** Standard reason phrases, used as the problem `title` (RFC 9457 §3.1.4). */
export const TITLES: Record<number, string> = {
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
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

/** The response body of `problem`, as the API sends it. */
export function problemBody(problem: Problem, requestId: string | undefined): Record<string, unknown> {
  const { code, status, title, detail, param, ...extensions } = problem;
  return {
    type: problemType(code),
    title,
    status,
    ...(detail === undefined ? {} : { detail }),
    code,
    ...(param === undefined ? {} : { param }),
    ...extensions,
    ...(requestId ? { request_id: requestId } : {}),
  };
}

/** Writes `problem` as an `application/problem+json` response. */
export function sendProblem(res: Response, problem: Problem): void {
  res
    .status(problem.status)
    .type(PROBLEM_CONTENT_TYPE)
    .send(toJsonText(problemBody(problem, res.locals.requestId as string | undefined)));
}

/** The problem of catalogue code `code`: its status, the status's standard title, and what happened this time. */
export function problemFor(code: ProblemCode, detail?: string, param?: string): Problem {
  const { status } = PROBLEMS[code];
  return { status, code, title: TITLES[status] ?? 'Error', ...(detail === undefined ? {} : { detail }), ...(param === undefined ? {} : { param }) };
}

/** Final handler for routes nobody matched. */
export const notFoundHandler: RequestHandler = (req, res) => {
  sendProblem(res, problemFor('not_found', `No route for ${req.method} ${req.path}.`));
};

interface BodyParserError {
  type?: string;
  status?: number;
  limit?: number;
}

/**
 * The problem an error stands for: known errors their own code, body-parser failures 400/413/415,
 * anything else a 500 that reveals nothing about the inside. `undefined` problem codes mean
 * the error was unexpected and should be logged by the caller.
 */
export function problemFromError(err: unknown): { problem: Problem; expected: boolean } {
  if (err instanceof ClinicPayError) {
    return { problem: { ...problemFor(err.code, err.message, err.param), ...(err.details ?? {}) }, expected: true };
  }
  const parserError = err as BodyParserError;
  switch (parserError?.type) {
    case 'entity.parse.failed':
      return { problem: problemFor('malformed_json', 'The request body is not valid JSON.'), expected: true };
    case 'entity.too.large':
      return { problem: problemFor('body_too_large', `The request body is larger than ${parserError.limit} bytes.`), expected: true };
    case 'charset.unsupported':
    case 'encoding.unsupported':
      return { problem: problemFor('unsupported_encoding', 'The request body encoding is not supported.'), expected: true };
  }
  // Other errors of Express's own middleware (http-errors): a missing static file, say.
  if (parserError?.status === 404) return { problem: problemFor('not_found', 'No such file.'), expected: true };
  if (typeof parserError?.status === 'number' && parserError.status >= 400 && parserError.status < 500) {
    return { problem: problemFor('bad_request', 'The request could not be read.'), expected: true };
  }
  return {
    problem: problemFor('internal_error', 'Something went wrong on our side. The request id identifies it in our logs.'),
    expected: false,
  };
}

/** Final error handler: every error becomes a problem response; unexpected ones are logged. */
export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (err: unknown, req, res, _next) => {
    const where = { req_id: res.locals.requestId as string | undefined, method: req.method, route: routeLabel(req, 500) };
    if (res.headersSent) {
      // Part of the answer is out: cut it off rather than let it look complete (and never hand
      // the error to Express's default handler, which prints it whole).
      logger.error({ ...where, err: errorSummary(err) }, 'failed after the response started');
      res.destroy();
      return;
    }
    const { problem, expected } = problemFromError(err);
    if (!expected) logger.error({ ...where, err: errorSummary(err) }, 'unhandled error');
    if (problem.status === 401 && !res.getHeader('WWW-Authenticate')) res.setHeader('WWW-Authenticate', 'Bearer');
    if (err instanceof RateLimitedError) res.setHeader('Retry-After', String(err.retryAfterSeconds));
    sendProblem(res, problem);
  };
}
