/**
 * The gateway as a real child process (`clinicpay start`), for tests of start-up, readiness,
 * shutdown and bad configuration.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DevStackFile } from '../../src/dev/devStackFile.js';
import { stopOrphan } from '../../src/dev/processes.js';
import { waitFor } from '../../src/platform/waitFor.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BIN = path.join(ROOT, 'bin', 'clinicpay.mjs');

export interface GatewayProcess {
  child: ChildProcess;
  output(): string;
  /** Resolves with the exit code (or the signal's name). */
  exited: Promise<number | string>;
}

/** Runs `clinicpay <args>` with exactly `env` added to a minimal environment. */
export function spawnClinicpay(args: string[], env: Record<string, string>): GatewayProcess {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')));
  return { child, output: () => output, exited };
}

/** The `dev-stack.json` of an embedded `clinicpay start` in `dataDir`, once the gateway answers ready. */
export function waitForDevStack(gateway: GatewayProcess, dataDir: string, timeoutMs = 90_000): Promise<DevStackFile> {
  const stackFile = path.join(dataDir, 'dev-stack.json');
  return waitFor(
    async () => {
      if (gateway.child.exitCode !== null) throw new Error(`gateway exited early:\n${gateway.output()}`);
      if (!fs.existsSync(stackFile)) return undefined;
      const contents = JSON.parse(fs.readFileSync(stackFile, 'utf8')) as DevStackFile;
      return (await fetch(`${contents.api_url}/ready`)).status === 200 ? contents : undefined;
    },
    { what: 'the gateway to be ready', timeoutMs, intervalMs: 200 },
  );
}

/**
 * Stops an embedded `clinicpay start` whatever state the test left it in: SIGTERM (which stops
 * the embedded Postgres and anvil with it); if it does not exit in time, SIGKILL, and then the
 * two children it left behind, by the pids it recorded in `dataDir`.
 */
export async function stopEmbeddedGateway(gateway: GatewayProcess, dataDir: string): Promise<void> {
  if (gateway.child.exitCode !== null || gateway.child.signalCode !== null) return;
  gateway.child.kill('SIGTERM');
  const exited = await Promise.race([gateway.exited.then(() => true), new Promise<false>((resolve) => setTimeout(() => resolve(false), 30_000).unref())]);
  if (exited) return;
  gateway.child.kill('SIGKILL');
  await gateway.exited;
  const pidFiles: [string, string][] = [
    [path.join(dataDir, 'postgres', 'postmaster.pid'), 'postgres'],
    [path.join(dataDir, 'anvil.pid'), 'anvil'],
  ];
  for (const [file, name] of pidFiles) {
    if (!fs.existsSync(file)) continue;
    const pid = Number(fs.readFileSync(file, 'utf8').split('\n')[0]);
    if (Number.isInteger(pid) && pid > 0) await stopOrphan(pid, name);
  }
}
