/**
 * The seeded fault simulator:
 *
 *   npm run simulate -- --seed 7 --steps 1000 [--instances 2] [--plant NAME]
 *   npm run simulate -- --seeds 1,2,3 --steps 300
 *   npm run simulate -- --plant list
 *   npm run simulate -- --self-test [--steps 400]
 *
 * From each seed alone it draws a schedule of invoices, payments (exact, under, over, twice, in
 * a token the gateway does not accept), voids, blocks, reorgs, JSON-RPC faults (errors,
 * timeouts, a lagging head, duplicated, reordered, empty or partial logs, missing blocks),
 * worker passes on one or two gateway processes, crashes at named failpoints, SIGKILL at any
 * moment, restarts and cut database connections, and runs it against the real gateway code,
 * embedded Postgres and anvil, checking the money invariants after every step and, once
 * everything is healed and settled, against the chain. A violation prints the
 * seed, the step, the invariant and the steps before it; `--seed N` replays the same schedule.
 *
 * `--plant NAME` turns a deliberately wrong behaviour on: the run must then find a violation
 * (exit 1). `--self-test` runs every planted bug and exits 0 only if each was caught.
 * Exit codes: 0 no violation (self-test: every plant caught), 1 a violation (self-test: a plant
 * missed), 2 bad arguments.
 */
import { parseArgs } from 'node:util';
import { PLANTS, type PlantName } from '../src/platform/failpoints.js';
import { type RunReport, runSimulation } from './run.js';
import { startSimulationStack } from './stack.js';

function usage(message: string): never {
  console.error(`${message}\nusage: npm run simulate -- [--seed N | --seeds N,M,...] [--steps K] [--instances 1|2] [--plant NAME|list] [--self-test]`);
  process.exit(2);
}

function integer(text: string | undefined, name: string, fallback: number, min: number, max: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < min || value > max) usage(`--${name} takes a whole number from ${min} to ${max}`);
  return value;
}

function printReport(report: RunReport, steps: number): void {
  const faults = [...report.faults].map(([kind, times]) => `${kind}: ${times}`).join(', ') || 'none';
  const operations = [...report.operations].map(([kind, times]) => `${kind}: ${times}`).join(', ') || 'none';
  console.log(`seed ${report.seed}: ${report.stepsRun} steps in ${(report.ms / 1000).toFixed(1)} s; faults injected: ${faults}`);
  console.log(`seed ${report.seed}: operations done: ${operations}`);
  if (report.violation) {
    const where = report.violation.step > steps ? 'after settling' : `at step ${report.violation.step}`;
    console.log(`VIOLATION seed ${report.seed} ${where}: ${report.violation.invariant}`);
    console.log(`  replay: npm run simulate -- --seed ${report.seed} --steps ${steps}`);
    for (const line of report.violation.trace) console.log(`  ${line}`);
  }
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      seed: { type: 'string' },
      seeds: { type: 'string' },
      steps: { type: 'string' },
      instances: { type: 'string' },
      plant: { type: 'string' },
      'self-test': { type: 'boolean' },
    },
    strict: true,
  });
  const plants = Object.keys(PLANTS) as PlantName[];
  if (values.plant === 'list') {
    for (const name of plants) console.log(name);
    return 0;
  }
  if (values.plant !== undefined && !plants.includes(values.plant as PlantName)) usage(`no planted bug ${values.plant}; --plant list names them`);
  const steps = integer(values.steps, 'steps', values['self-test'] ? 400 : 1000, 1, 1_000_000);
  const instances = integer(values.instances, 'instances', 2, 1, 2);
  const seeds =
    values.seeds !== undefined
      ? values.seeds.split(',').map((seed) => integer(seed, 'seeds', 0, 0, 2 ** 32 - 1))
      : [integer(values.seed, 'seed', Math.floor(Math.random() * 2 ** 32), 0, 2 ** 32 - 1)];

  const stack = await startSimulationStack();
  try {
    if (values['self-test']) {
      // Each planted bug, with the first seed: the run must find a violation within its steps.
      const missed: string[] = [];
      for (const plant of plants) {
        const report = await runSimulation(stack, { seed: seeds[0]!, steps, instances, plant });
        if (report.violation) {
          console.log(
            `plant ${plant}: caught at ${report.violation.step > steps ? 'settling' : `step ${report.violation.step}`}: ${report.violation.invariant}`,
          );
        } else {
          missed.push(plant);
          console.log(`plant ${plant}: MISSED in ${steps} steps (seed ${seeds[0]})`);
        }
      }
      console.log(`plants caught: ${plants.length - missed.length} of ${plants.length}`);
      return missed.length === 0 ? 0 : 1;
    }
    let violations = 0;
    let stepsRun = 0;
    let ms = 0;
    for (const seed of seeds) {
      console.log(
        `seed ${seed}: ${steps} steps, ${instances} instance${instances > 1 ? 's' : ''}${values.plant ? `, planted: ${values.plant}` : ''}; schedule ${(
          await import('./schedule.js')
        ).scheduleDigest((await import('./schedule.js')).drawSchedule({ seed, steps, instances, confirmations: 3 }))}`,
      );
      const report = await runSimulation(stack, { seed, steps, instances, plant: values.plant as PlantName | undefined });
      printReport(report, steps);
      if (report.violation) violations += 1;
      stepsRun += report.stepsRun;
      ms += report.ms;
    }
    console.log(`violations: ${violations} (${stepsRun} steps, seeds ${seeds.join(',')}, ${(stepsRun / (ms / 1000)).toFixed(1)} steps/s)`);
    return violations === 0 ? 0 : 1;
  } finally {
    await stack.close();
  }
}

process.exitCode = await main();
