/**
 * Waiting on a condition with a deadline: the one way this code base waits for something to
 * become true (a server to answer, a block to be mined), instead of sleeping a guessed time.
 */
import { setTimeout as sleep } from 'node:timers/promises';

export interface WaitForOptions {
  /** What is awaited, for the timeout message. */
  what: string;
  timeoutMs: number;
  intervalMs?: number;
}

/**
 * Calls `probe` until it returns a value other than `undefined`/`false`, or throws once the
 * deadline passes (with the probe's last error as the cause).
 *
 * @example
 * const port = await waitFor(() => readPort(logFile), { what: 'anvil to listen', timeoutMs: 10_000 });
 */
export async function waitFor<T>(probe: () => Promise<T | undefined | false> | T | undefined | false, options: WaitForOptions): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  const intervalMs = options.intervalMs ?? 50;
  let lastError: unknown;
  for (;;) {
    try {
      const result = await probe();
      if (result !== undefined && result !== false) return result;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() >= deadline) {
      throw new Error(`timed out after ${options.timeoutMs} ms waiting for ${options.what}`, { cause: lastError });
    }
    await sleep(intervalMs);
  }
}
