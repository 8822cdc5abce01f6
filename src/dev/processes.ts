/**
 * Child processes of the embedded dev stack.
 *
 * Children are started in their own process group (detached), so a Ctrl-C in the terminal
 * reaches only the gateway, which then shuts down in order: HTTP first, the database last.
 * Each child's pid is recorded so that one orphaned by a crash (SIGKILL of the gateway) is
 * found and stopped on the next start.
 */
import { type SpawnOptions, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import { waitFor } from '../platform/waitFor.js';

export interface ManagedProcess {
  pid: number;
  /** Sends `signal` and resolves once the process has exited. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<void>;
  exited: Promise<number | null>;
}

export interface StartProcessParameters {
  command: string;
  args: string[];
  logFile: string;
  uid?: number;
  gid?: number;
  env?: NodeJS.ProcessEnv;
}

/** Starts a detached child whose stdout and stderr go to `logFile` (appended). */
export function startProcess({ command, args, logFile, uid, gid, env }: StartProcessParameters): ManagedProcess {
  const log = fs.openSync(logFile, 'a');
  const options: SpawnOptions = { detached: true, stdio: ['ignore', log, log], ...(env ? { env } : {}) };
  if (uid !== undefined) options.uid = uid;
  if (gid !== undefined) options.gid = gid;
  const child = spawn(command, args, options);
  fs.closeSync(log);
  if (child.pid === undefined) throw new Error(`could not start ${command}`);
  const pid = child.pid;
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    pid,
    exited,
    async stop(signal = 'SIGINT', timeoutMs = 30_000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Whether a process with this pid exists and its command line contains `nameFragment`. */
export function isRunning(pid: number, nameFragment: string): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(nameFragment);
  } catch {
    // No /proc (macOS): the pid exists, trust it.
    return true;
  }
}

/** Stops a process that is not our child (an orphan of an earlier run) and waits for it to go. */
export async function stopOrphan(pid: number, nameFragment: string, signal: NodeJS.Signals = 'SIGINT'): Promise<void> {
  if (!isRunning(pid, nameFragment)) return;
  process.kill(pid, signal);
  try {
    await waitFor(() => !isRunning(pid, nameFragment), { what: `${nameFragment} (pid ${pid}) to exit`, timeoutMs: 30_000, intervalMs: 100 });
  } catch {
    process.kill(pid, 'SIGKILL');
  }
}

/** A TCP port on the loopback interface that was free a moment ago. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}
