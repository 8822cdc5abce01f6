/**
 * File downloads (CSV exports, statements): the status, type and file name, then a body
 * streamed from a database cursor. A client that goes away, or stops reading for longer than
 * the stall timeout, ends the download at once: the next write throws, the writer's loop stops,
 * and its cursor closes and hands its connection back to the pool. Any other failure after the
 * first byte cuts the response off, so no client holds a complete-looking file that is wrong.
 */
import type { Writable } from 'node:stream';
import type { Response } from 'express';
import { errorSummary, type Logger } from '../platform/log.js';

export interface DownloadOptions {
  contentType: string;
  /** What the browser offers to save it as. */
  filename: string;
  /** How long the client may read nothing before the download is cut. */
  stallTimeoutMs: number;
  logger: Logger;
  /** Ids to log with the outcome (never a secret). */
  context?: Record<string, string>;
}

/**
 * Streams `write(out)` to `res` as a download and ends it. Resolves in every case: a failure is
 * logged and the response destroyed.
 *
 * @example
 * await streamDownload(res, { contentType: 'text/csv; charset=utf-8', filename: 'exceptions.csv', stallTimeoutMs, logger }, (out) => writeExceptionsCsv(out, rows, token));
 */
export async function streamDownload(res: Response, options: DownloadOptions, write: (out: Writable) => Promise<void>): Promise<void> {
  res.status(200).type(options.contentType).setHeader('Content-Disposition', `attachment; filename="${options.filename}"`);
  // The socket's idle timer: a client that reads nothing for this long (so nothing can be
  // written either) is cut, and takes nothing with it.
  res.setTimeout(options.stallTimeoutMs, () => res.destroy());
  const context = { ...options.context, req_id: res.locals.requestId as string | undefined };
  try {
    await write(res);
    if (!res.destroyed && !res.writableEnded) res.end();
  } catch (error) {
    if (res.destroyed) options.logger.info(context, 'download abandoned by the client');
    else options.logger.error({ ...context, err: errorSummary(error) }, 'download failed mid-stream');
    res.destroy();
  }
}
