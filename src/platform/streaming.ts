/**
 * Writing long responses piece by piece without buffering them: each write waits for the
 * socket to drain when its buffer is full, so memory stays flat however long the response.
 */
import type { Writable } from 'node:stream';

/** Writes `chunk`, waiting for the socket to drain when its buffer is full (or for it to close). */
export async function writeStreamed(res: Writable, chunk: string | Uint8Array): Promise<void> {
  if (res.write(chunk)) return;
  await new Promise<void>((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.once('drain', done);
    res.once('close', done);
  });
}
