/**
 * The fault simulator as a benchmark: a long run (BENCH_SIM_SEEDS, default five seeds, of
 * BENCH_SIM_STEPS steps each, default 2000) on two instances, its steps per second and the
 * faults it injected by kind, next to the same schedules with their faults taken out (reorgs,
 * RPC faults, crashes, kills, restarts and cut connections) measured in the same run: the ratio is what surviving the
 * faults costs. A violation makes the benchmark fail: it is not a valid measurement then.
 *
 *   npm run bench -- simulation
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type RunReport, runSimulation } from '../sim/run.js';
import { startSimulationStack } from '../sim/stack.js';

const SEEDS = (process.env.BENCH_SIM_SEEDS ?? '401,402,403,404,405').split(',').map(Number);
const STEPS = Number(process.env.BENCH_SIM_STEPS ?? 2000);

export async function runSimulationBench(): Promise<void> {
  if (SEEDS.some((seed) => !Number.isInteger(seed) || seed < 0) || !Number.isInteger(STEPS) || STEPS < 1) {
    throw new Error('BENCH_SIM_SEEDS takes whole numbers separated by commas, BENCH_SIM_STEPS a whole number');
  }
  console.log(`${SEEDS.length} seeds of ${STEPS} steps on two instances, with their faults and without (BENCH_SIM_SEEDS, BENCH_SIM_STEPS).`);
  const stack = await startSimulationStack();
  try {
    const rows: { seed: number; faulted: RunReport; plain: RunReport }[] = [];
    for (const seed of SEEDS) {
      const faulted = await runSimulation(stack, { seed, steps: STEPS, instances: 2 });
      const plain = await runSimulation(stack, { seed, steps: STEPS, instances: 2, withoutFaults: true });
      for (const report of [faulted, plain]) {
        if (report.violation) throw new Error(`seed ${seed}: ${report.violation.invariant} (replay: npm run simulate -- --seed ${seed} --steps ${STEPS})`);
      }
      rows.push({ seed, faulted, plain });
    }
    const rate = (report: RunReport) => report.stepsRun / (report.ms / 1000);
    console.log('');
    console.log('seed    steps  with faults s  steps/s  without: steps  s      steps/s  ratio (steps/s without / with)');
    for (const { seed, faulted, plain } of rows) {
      console.log(
        `${String(seed).padEnd(7)} ${String(faulted.stepsRun).padStart(5)}  ${(faulted.ms / 1000).toFixed(1).padStart(13)}  ${rate(faulted).toFixed(1).padStart(7)}  ${String(plain.stepsRun).padStart(14)}  ${(plain.ms / 1000).toFixed(1).padStart(5)}  ${rate(plain).toFixed(1).padStart(7)}  ${(rate(plain) / rate(faulted)).toFixed(2)}x`,
      );
    }
    const sum = (pick: (row: (typeof rows)[number]) => number) => rows.reduce((total, row) => total + pick(row), 0);
    const faultedRate = sum((row) => row.faulted.stepsRun) / (sum((row) => row.faulted.ms) / 1000);
    const plainRate = sum((row) => row.plain.stepsRun) / (sum((row) => row.plain.ms) / 1000);
    const faults = new Map<string, number>();
    for (const { faulted } of rows) {
      for (const [kind, count] of faulted.faults) {
        const key = kind.startsWith('crash at') ? 'crash' : kind;
        faults.set(key, (faults.get(key) ?? 0) + count);
      }
    }
    console.log('');
    console.log(
      `All seeds: ${sum((row) => row.faulted.stepsRun)} steps with faults at ${faultedRate.toFixed(1)} steps/s; without them ${plainRate.toFixed(1)} steps/s; ratio ${(plainRate / faultedRate).toFixed(2)}x. Violations: 0.`,
    );
    console.log(`Faults injected: ${[...faults].map(([kind, count]) => `${kind} ${count}`).join(', ')}.`);
  } finally {
    await stack.close();
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  runSimulationBench().catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}
