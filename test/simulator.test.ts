/**
 * The fault simulator as CI runs it: a short run of a few fixed seeds on two instances must find
 * no violation, and every planted bug must be caught (`--self-test`), each as a real process
 * (`npm run simulate`) on its own embedded Postgres and anvil. The schedule is a pure function of
 * the seed.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { drawSchedule, scheduleDigest } from '../sim/schedule.js';
import { PLANTS } from '../src/platform/failpoints.js';

const run = promisify(execFile);

async function simulate(args: string[]): Promise<{ code: number; stdout: string }> {
  try {
    const { stdout } = await run('npx', ['tsx', 'sim/simulate.ts', ...args], { timeout: 600_000, maxBuffer: 16 * 1024 * 1024 });
    return { code: 0, stdout };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string };
    return { code: failed.code ?? -1, stdout: failed.stdout ?? '' };
  }
}

describe('fault simulator', () => {
  it('draws the same schedule from the same seed, and another from another', () => {
    const parameters = { seed: 20261204, steps: 500, instances: 2, confirmations: 3 };
    expect(scheduleDigest(drawSchedule(parameters))).toBe(scheduleDigest(drawSchedule({ ...parameters })));
    expect(scheduleDigest(drawSchedule({ ...parameters, seed: 20261205 }))).not.toBe(scheduleDigest(drawSchedule(parameters)));
    const ops = new Set(drawSchedule(parameters).map((step) => step.op));
    expect([...ops].sort()).toEqual([
      'crash',
      'db_drop',
      'invoice',
      'kill',
      'mine',
      'pause',
      'pay',
      'race',
      'reconcile',
      'refund',
      'reorg',
      'resolve',
      'restart',
      'rpc_fault',
      'tick',
      'void',
    ]);
  });

  it('finds no violation in three fixed seeds on two instances, every fault kind drawn', { timeout: 660_000 }, async () => {
    const { code, stdout } = await simulate(['--seeds', '1,2,3', '--steps', '300', '--instances', '2']);
    const lines = stdout.trim().split('\n');
    expect(lines.at(-1)).toMatch(/^violations: 0 \(900 steps, seeds 1,2,3, [\d.]+ steps\/s\)$/);
    expect(code).toBe(0);
    for (const kind of [
      'reorg',
      'restart',
      'kill',
      'crash at',
      'database connections cut',
      'rpc error',
      'rpc timeout',
      'rpc lagging_head',
      'rpc block_not_found',
    ])
      expect(stdout).toContain(kind);
  });

  it('catches every planted bug within its steps, naming the invariant', { timeout: 660_000 }, async () => {
    const { code, stdout } = await simulate(['--self-test', '--seed', '1', '--steps', '600']);
    for (const plant of Object.keys(PLANTS)) expect(stdout).toMatch(new RegExp(`^plant ${plant}: caught at .+: .+$`, 'm'));
    expect(stdout.trim().split('\n').at(-1)).toBe(`plants caught: ${Object.keys(PLANTS).length} of ${Object.keys(PLANTS).length}`);
    expect(code).toBe(0);
  });

  it('a planted bug makes a plain run fail with the seed, the step and a way to replay it', { timeout: 660_000 }, async () => {
    const { code, stdout } = await simulate(['--seed', '1', '--steps', '300', '--instances', '1', '--plant', 'post_twice']);
    expect(stdout).toMatch(/^VIOLATION seed 1 at step \d+: transfer pay_[0-9a-f]+ \(payment, confirmed\) is on the books 2 times$/m);
    expect(stdout).toContain('replay: npm run simulate -- --seed 1 --steps 300');
    expect(stdout.trim().split('\n').at(-1)).toMatch(/^violations: 1 /);
    expect(code).toBe(1);
  });

  it('lists the planted bugs one a line, and refuses an unknown one', async () => {
    const listed = await simulate(['--plant', 'list']);
    expect(listed.stdout.trim().split('\n')).toEqual(Object.keys(PLANTS));
    expect(listed.code).toBe(0);
    expect((await simulate(['--plant', 'no_such_bug'])).code).toBe(2);
  });
});
