/**
 * Runs every benchmark in sequence, or only those named on the command line:
 *
 *   npm run bench
 *   npm run bench -- invoices
 *
 * Exits non-zero when a benchmark throws (a run that is not a valid measurement throws too).
 */
import { runClientBench } from './client.js';
import { runGasBench } from './gas.js';
import { runGrowthBench } from './growth.js';
import { runIngestionBench } from './ingestion.js';
import { runInvoiceBench } from './invoices.js';
import { runReconciliationBench } from './reconciliation.js';
import { runSimulationBench } from './simulation.js';
import { runStatementBench } from './statement.js';

interface Benchmark {
  name: string;
  run: () => Promise<void>;
}

/** Add a benchmark here: a name and a function that prints its figures next to its baseline. */
const BENCHMARKS: readonly Benchmark[] = [
  { name: 'gas', run: runGasBench },
  { name: 'invoices', run: runInvoiceBench },
  { name: 'ingestion', run: runIngestionBench },
  { name: 'reconciliation', run: runReconciliationBench },
  { name: 'statement', run: runStatementBench },
  { name: 'growth', run: runGrowthBench },
  { name: 'simulation', run: runSimulationBench },
  { name: 'client', run: runClientBench },
];

async function main(names: readonly string[]): Promise<number> {
  const unknown = names.filter((name) => !BENCHMARKS.some((bench) => bench.name === name));
  if (unknown.length > 0) {
    console.error(`unknown benchmark ${unknown.join(', ')}; known: ${BENCHMARKS.map((bench) => bench.name).join(', ')}`);
    return 2;
  }
  const selected = names.length === 0 ? BENCHMARKS : BENCHMARKS.filter((bench) => names.includes(bench.name));
  const failed: string[] = [];
  for (const [index, bench] of selected.entries()) {
    if (index > 0) console.log('');
    console.log(`=== ${bench.name} ===`);
    const started = Date.now();
    try {
      await bench.run();
      console.log(`(${bench.name}: ${((Date.now() - started) / 1000).toFixed(0)} s)`);
    } catch (error) {
      failed.push(bench.name);
      console.error(`${bench.name} failed:`, error);
    }
  }
  if (failed.length > 0) console.error(`\nFailed: ${failed.join(', ')}`);
  return failed.length > 0 ? 1 : 0;
}

process.exitCode = await main(process.argv.slice(2));
