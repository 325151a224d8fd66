// ctkit's Prometheus endpoint for the daemon (`General { Metrics { … } }`):
// the daemon calls startMetrics() during init and close() when it stops.
import type { MetricsConfig } from "../config/types.ts";
import type { RuntimeStats } from "../daemon/runtime_stats.ts";
import type { Mode } from "../modes/mode.ts";
import { StatsMode } from "../modes/stats.ts";
import { kernelTable, renderMetrics } from "./collect.ts";
import { haRecord } from "./records.ts";
import { MetricsServer } from "./server.ts";
import type { SyncView } from "./sync_view.ts";

export { MetricsServer } from "./server.ts";

/** The parts of the daemon a scrape reads; `mode` and `ctnl` may appear after the server starts. */
export interface MetricsDaemon {
  readonly stats: RuntimeStats;
  readonly ctnl: { bufferSize: number } | null;
  readonly mode: Mode | null;
}

/** Starts the endpoint; throws Error with a message for the log when it cannot listen. */
export function startMetrics(cfg: MetricsConfig, limit: number, d: MetricsDaemon): MetricsServer {
  return MetricsServer.start(cfg, () => {
    const mode = d.mode;
    const sync = (mode as { metricsView?: () => SyncView } | null)?.metricsView?.() ?? null;
    const stats = mode instanceof StatsMode ? mode.cache : null;
    return renderMetrics({
      stats: d.stats,
      bufferSize: d.ctnl?.bufferSize ?? null,
      mode: sync ? "sync" : stats ? "stats" : null,
      statsCache: stats && { stats: stats.stats, size: stats.size },
      sync,
      limit,
      ha: haRecord,
      kernel: kernelTable(),
    });
  });
}
