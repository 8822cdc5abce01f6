/**
 * The embedded EVM node of the dev stack and the test suite: anvil, from npm `@foundry-rs/anvil`.
 */
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { waitFor } from '../platform/waitFor.js';
import { freePort, type ManagedProcess, startProcess } from './processes.js';

export const DEV_CHAIN_ID = 31337;

export interface Anvil {
  rpcUrl: string;
  port: number;
  process: ManagedProcess;
  stop(): Promise<void>;
}

export interface StartAnvilParameters {
  logFile: string;
  /** Seconds between blocks; omitted means a block per transaction (tests). */
  blockTimeSeconds?: number;
  /** Load chain state from this file at start and write it back periodically and at exit. */
  stateFile?: string;
  port?: number;
}

/** Path of the anvil binary shipped in the platform package of `@foundry-rs/anvil`. */
export function anvilBinary(): string {
  const require = createRequire(import.meta.url);
  const arch = ({ x64: 'amd64', arm64: 'arm64' } as Record<string, string>)[os.arch()] ?? os.arch();
  const pkg = `@foundry-rs/anvil-${os.platform()}-${arch}`;
  try {
    return path.join(path.dirname(require.resolve(`${pkg}/package.json`)), 'bin', 'anvil');
  } catch (error) {
    throw new Error(`anvil (${pkg}) is not installed; run npm install, or set RPC_URL`, { cause: error });
  }
}

/**
 * Starts anvil on a free loopback port and waits until it answers JSON-RPC. Its own accounts
 * are anvil's public defaults; the stack's accounts come from the dev mnemonic and are funded
 * with `anvil_setBalance` (see `contracts.ts`), so no secret appears on a command line.
 */
export async function startAnvil(params: StartAnvilParameters): Promise<Anvil> {
  const port = params.port ?? (await freePort());
  const args = [
    '--host',
    '127.0.0.1',
    '--port',
    String(port),
    '--chain-id',
    String(DEV_CHAIN_ID),
    ...(params.blockTimeSeconds ? ['--block-time', String(params.blockTimeSeconds)] : []),
    ...(params.stateFile ? ['--state', params.stateFile, '--state-interval', '10'] : []),
  ];
  const child = startProcess({ command: anvilBinary(), args, logFile: params.logFile });
  const rpcUrl = `http://127.0.0.1:${port}`;
  let exitCode: number | null | undefined;
  void child.exited.then((code) => (exitCode = code));
  await waitFor(
    async () => {
      if (exitCode !== undefined) return true;
      const response = await fetch(rpcUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] }),
      });
      return response.ok;
    },
    { what: 'anvil to answer JSON-RPC', timeoutMs: 30_000, intervalMs: 50 },
  );
  if (exitCode !== undefined) throw new Error(`anvil exited with code ${exitCode} while starting; see ${params.logFile}`);
  // SIGINT makes anvil write its state file before it exits.
  return { rpcUrl, port, process: child, stop: () => child.stop('SIGINT') };
}
