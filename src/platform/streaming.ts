/**
 * Writing long responses piece by piece without buffering them: each write waits for the
 * socket to drain when its buffer is full, so memory stays flat however long the response. An
 * output that closes (the client went away, or a stall timeout cut it) makes the write throw
 * at once, so the writer's loop stops, and the database cursor it reads from is closed and its
 * connection released.
 */
import type { Writable } from 'node:stream';

/** The output closed before everything was written. */
export class OutputClosedError extends Error {
  override name = 'OutputClosedError';
  constructor() {
    super('the output closed before everything was written');
  }
}

/** Writes `chunk`, waiting for the output to drain when its buffer is full; throws {@link OutputClosedError} once it has closed. */
export async function writeStreamed(out: Writable, chunk: string | Uint8Array): Promise<void> {
  if (out.destroyed || out.writableEnded) throw new OutputClosedError();
  if (out.write(chunk)) return;
  await new Promise<void>((resolve, reject) => {
    const done = (error?: Error) => {
      out.off('drain', drained);
      out.off('close', closed);
      out.off('error', closed);
      if (error) reject(error);
      else resolve();
    };
    const drained = () => done();
    const closed = () => done(new OutputClosedError());
    out.once('drain', drained);
    out.once('close', closed);
    out.once('error', closed);
    // It may have closed between the write and these listeners: 'close' would not come again.
    if (out.destroyed) closed();
  });
}
