/**
 * The run's gateway instances, each a real child process ({@link ./gatewayProcess.ts}) that the
 * simulator tells to run one pass of a worker at a time and may kill with SIGKILL at any moment.
 * A process killed, or one that killed itself at an armed failpoint, is replaced by a fresh one
 * before its instance's next pass, as a supervisor restarts a crashed gateway. Spare processes
 * are kept booted (modules loaded, nothing connected), so that a replacement starts at once.
 *
 * The child runs a bundle of its entry (built once per simulation stack with esbuild, the
 * project's own code bundled, packages left to `node_modules`): a process starts in well under a
 * second, where compiling the TypeScript on every start would take several.
 */
import { type ChildProcess, fork } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import type { FailpointName } from '../src/platform/failpoints.js';
import { CRASH_LINE, type FromGateway, type GatewaySettings, type PassOutcome, type ToGateway } from './gatewayProcess.js';
import type { WorkerName } from './schedule.js';

/** What a pass came to: as the process answered, or the process died under it. */
export type Outcome = PassOutcome | 'crashed' | 'killed';

/** A pass that takes longer than this is reported, and its process killed: a pass should never hang. */
const PASS_DEADLINE_MS = 60_000;

/** Bundles the gateway process's entry into `outDir` (inside the project, so that its packages resolve); returns the file. */
export async function bundleGatewayProcess(outDir: string): Promise<string> {
  const outfile = path.join(outDir, 'gateway-process.mjs');
  await build({
    entryPoints: [fileURLToPath(new URL('./gatewayProcess.ts', import.meta.url))],
    bundle: true,
    platform: 'node',
    format: 'esm',
    packages: 'external',
    outfile,
    logLevel: 'warning',
  });
  return outfile;
}

class GatewayProcess {
  readonly child: ChildProcess;
  readonly booted: Promise<void>;
  /** Resolves when the process has exited and its output is read: the failpoint it crashed at, if any. */
  readonly exited: Promise<FailpointName | undefined>;
  started = false;
  private nextId = 0;
  private readonly passes = new Map<number, (answer: { outcome: PassOutcome; error?: string }) => void>();

  constructor(entry: string) {
    this.child = fork(entry, [], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'], serialization: 'json' });
    let output = '';
    this.child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
    });
    this.booted = new Promise((resolve, reject) => {
      this.child.on('message', (message: FromGateway) => {
        if (message.type === 'booted') resolve();
        else if (message.type === 'passed') this.passes.get(message.id)?.({ outcome: message.outcome, ...(message.error ? { error: message.error } : {}) });
      });
      this.child.once('exit', () => reject(new Error('the gateway process exited before it booted')));
    });
    this.booted.catch(() => undefined);
    this.exited = new Promise((resolve) => {
      this.child.once('close', () => {
        const line = output.split('\n').find((text) => text.startsWith(CRASH_LINE));
        resolve(line?.slice(CRASH_LINE.length) as FailpointName | undefined);
      });
    });
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  send(message: ToGateway): void {
    if (this.alive && this.child.connected) this.child.send(message);
  }

  async start(settings: GatewaySettings): Promise<void> {
    await this.booted;
    const started = new Promise<void>((resolve, reject) => {
      const onMessage = (message: FromGateway) => {
        if (message.type !== 'started') return;
        this.child.off('message', onMessage);
        resolve();
      };
      this.child.on('message', onMessage);
      this.child.once('exit', () => reject(new Error('the gateway process exited while it started')));
    });
    this.send({ type: 'start', settings });
    await started;
    this.started = true;
  }

  /** One pass of `worker`; `crashed` or `killed` if the process died before it answered. */
  async pass(worker: WorkerName): Promise<{ outcome: Outcome; error?: string }> {
    const id = this.nextId++;
    const answered = new Promise<{ outcome: PassOutcome; error?: string }>((resolve) => this.passes.set(id, resolve));
    this.send({ type: 'pass', id, worker });
    let deadline: NodeJS.Timeout | undefined;
    const hung = new Promise<{ outcome: Outcome; error: string }>((resolve) => {
      deadline = setTimeout(() => {
        this.kill();
        resolve({ outcome: 'failed', error: `the pass did not end in ${PASS_DEADLINE_MS / 1000} s` });
      }, PASS_DEADLINE_MS);
    });
    const died = this.exited.then((crashedAt) => ({ outcome: crashedAt ? ('crashed' as const) : ('killed' as const) }));
    try {
      return await Promise.race([answered, died, hung]);
    } finally {
      clearTimeout(deadline);
      this.passes.delete(id);
    }
  }

  kill(): void {
    if (this.alive) this.child.kill('SIGKILL');
  }
}

/** Processes kept booted for the next replacements: kills often come close together. */
const SPARES = 2;

/** The run's instances, their spares, and the failpoints armed to crash in any of them. */
export class Gateways {
  private readonly instances: (GatewayProcess | undefined)[];
  private readonly spares: GatewayProcess[];
  private crashes = new Set<FailpointName>();
  /** An instance being started: a second pass for it waits for the same start. */
  private readonly starting = new Map<number, Promise<GatewayProcess>>();
  /** The last error of each worker's passes on each instance, for a run that does not settle. */
  readonly lastErrors = new Map<string, string>();

  constructor(
    private readonly entry: string,
    private readonly settings: Omit<GatewaySettings, 'index' | 'crashes'>,
    count: number,
    /** Told of each crash at a failpoint, once the process is gone. */
    private readonly onCrash: (at: FailpointName) => void,
  ) {
    this.instances = Array.from({ length: count }, () => undefined);
    this.spares = Array.from({ length: SPARES }, () => new GatewayProcess(entry));
  }

  /** Arms `at` to crash the next process that reaches it. */
  arm(at: FailpointName): void {
    this.crashes.add(at);
    this.broadcastArmed();
  }

  disarmAll(): void {
    this.crashes.clear();
    this.broadcastArmed();
  }

  /** One pass of `worker` on instance `index`, started first if it is not running. */
  async pass(index: number, worker: WorkerName): Promise<Outcome> {
    const instance = await this.running(index);
    const { outcome, error } = await instance.pass(worker);
    if (error) this.lastErrors.set(`instance ${index} ${worker}`, error);
    return outcome;
  }

  /** SIGKILL to instance `index`, whatever it is doing; it is replaced before its next pass. */
  async kill(index: number): Promise<void> {
    const instance = this.instances[index];
    if (!instance) return;
    instance.kill();
    await instance.exited;
  }

  async close(): Promise<void> {
    for (const instance of [...this.instances, ...this.spares]) {
      if (!instance) continue;
      instance.kill();
      await instance.exited;
    }
  }

  private async running(index: number): Promise<GatewayProcess> {
    const current = this.instances[index];
    if (current?.alive && current.started) return current;
    let starting = this.starting.get(index);
    if (!starting) {
      starting = this.replace(index).finally(() => this.starting.delete(index));
      this.starting.set(index, starting);
    }
    return starting;
  }

  private async replace(index: number): Promise<GatewayProcess> {
    const current = this.instances[index];
    if (current) {
      current.kill();
      await current.exited;
    }
    // The oldest spare takes over; another boots for a later time.
    const next = this.spares.shift()!;
    this.spares.push(new GatewayProcess(this.entry));
    this.instances[index] = next;
    void next.exited.then((at) => {
      if (at === undefined) return;
      this.crashes.delete(at);
      this.onCrash(at);
      this.broadcastArmed();
    });
    await next.start({ ...this.settings, index, crashes: [...this.crashes] });
    return next;
  }

  private broadcastArmed(): void {
    for (const instance of this.instances) if (instance?.started) instance.send({ type: 'arm', crashes: [...this.crashes] });
  }
}
