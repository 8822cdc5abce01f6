/**
 * File downloads (CSV exports, statements): the status, type and file name, before the body
 * streams.
 */
import type { Response } from 'express';

/** Starts a `200` download of `contentType`, offered to save as `filename`. */
export function startDownload(res: Response, contentType: string, filename: string): void {
  res.status(200).type(contentType).setHeader('Content-Disposition', `attachment; filename="${filename}"`);
}
