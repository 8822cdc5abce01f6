/**
 * Prometheus metrics of one process, served at `GET /metrics`.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export interface HttpMetrics {
  observe(method: string, route: string, status: number, seconds: number): void;
}

/** What the chain watcher reports. */
export interface WatcherMetrics {
  logsProcessed(count: number): void;
  reorg(depth: number): void;
  lag(blocks: number): void;
}

/** What the flusher reports: deposit addresses per outcome. */
export interface FlusherMetrics {
  flush(result: 'success' | 'retry' | 'failed', deposits: number): void;
}

export interface WebhookMetrics {
  deliveries(result: 'delivered' | 'retried' | 'failed' | 'skipped', count: number): void;
}

/** JSON-RPC calls to the node, by outcome (an HTTP error or no answer is an error). */
export interface RpcMetrics {
  request(outcome: 'ok' | 'error'): void;
}

export interface WorkerMetrics {
  failed(worker: string): void;
}

/** One sample of a gauge read when /metrics is scraped. */
export interface GaugeSample {
  labels?: Record<string, string>;
  value: number;
}

export interface Metrics extends HttpMetrics {
  registry: Registry;
  watcher: WatcherMetrics;
  flusher: FlusherMetrics;
  webhooks: WebhookMetrics;
  rpc: RpcMetrics;
  workers: WorkerMetrics;
  /**
   * A gauge whose samples `read` gives at each scrape (queue depths, pool use, the relayer's
   * balance). A read that fails leaves the gauge without samples for that scrape.
   */
  scrapedGauge(name: string, help: string, labelNames: readonly string[], read: () => Promise<GaugeSample[]>): void;
}

/** A fresh registry (one per app, so tests do not share counters) with process and HTTP metrics. */
export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'clinicpay_' });
  const requests = new Counter({
    name: 'clinicpay_http_requests_total',
    help: 'HTTP requests by method, route and status.',
    labelNames: ['method', 'route', 'status'],
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'clinicpay_http_request_duration_seconds',
    help: 'HTTP request duration by method and route.',
    labelNames: ['method', 'route'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const lag = new Gauge({ name: 'clinicpay_watcher_lag_blocks', help: 'Blocks between the chain head and the watcher cursor.', registers: [registry] });
  const logs = new Counter({
    name: 'clinicpay_watcher_logs_processed_total',
    help: 'Transfer logs of deposit addresses stored by the watcher.',
    registers: [registry],
  });
  const reorgs = new Counter({ name: 'clinicpay_watcher_reorgs_total', help: 'Reorgs detected (block-hash mismatch) and rolled back.', registers: [registry] });
  const reorgDepth = new Gauge({ name: 'clinicpay_watcher_last_reorg_depth_blocks', help: 'Depth of the last reorg rolled back.', registers: [registry] });
  const flushes = new Counter({
    name: 'clinicpay_flush_deposits_total',
    help: 'Deposit addresses in flush transactions, by result.',
    labelNames: ['result'],
    registers: [registry],
  });
  const webhooks = new Counter({
    name: 'clinicpay_webhook_deliveries_total',
    help: 'Webhook delivery attempts, by result.',
    labelNames: ['result'],
    registers: [registry],
  });
  const rpc = new Counter({
    name: 'clinicpay_rpc_requests_total',
    help: 'JSON-RPC requests to the node, by outcome.',
    labelNames: ['outcome'],
    registers: [registry],
  });
  const workerFailures = new Counter({
    name: 'clinicpay_worker_failures_total',
    help: 'Background worker passes that failed, by worker (each is retried with backoff).',
    labelNames: ['worker'],
    registers: [registry],
  });
  return {
    registry,
    rpc: { request: (outcome) => rpc.inc({ outcome }) },
    workers: { failed: (worker) => workerFailures.inc({ worker }) },
    scrapedGauge(name, help, labelNames, read) {
      new Gauge({
        name,
        help,
        labelNames: [...labelNames],
        registers: [registry],
        async collect() {
          this.reset();
          const samples = await read().catch(() => []);
          for (const sample of samples) {
            if (sample.labels) this.set(sample.labels, sample.value);
            else this.set(sample.value);
          }
        },
      });
    },
    watcher: {
      logsProcessed: (count) => logs.inc(count),
      reorg: (depth) => {
        reorgs.inc();
        reorgDepth.set(depth);
      },
      lag: (blocks) => lag.set(blocks),
    },
    flusher: { flush: (result, deposits) => flushes.inc({ result }, deposits) },
    webhooks: { deliveries: (result, count) => webhooks.inc({ result }, count) },
    observe(method, route, status, seconds) {
      requests.inc({ method, route, status: String(status) });
      duration.observe({ method, route }, seconds);
    },
  };
}
