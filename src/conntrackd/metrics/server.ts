// The Prometheus endpoint: `GET /metrics` on the address and port of the
// `Metrics` clause, nothing else (404 for other paths, 405 for other methods).
// Deno.serve runs the HTTP side in the runtime's I/O layer; the handler only
// renders the text, from figures the daemon keeps anyway (a scrape costs
// about a hundred lines of string building on the daemon's thread).
import type { MetricsConfig } from "../config/types.ts";
import { metricsHostPort } from "../config/metrics.ts";
import { CONTENT_TYPE } from "./exposition.ts";

export class MetricsServer {
  private constructor(private readonly server: Deno.HttpServer, readonly where: string) {}

  /**
   * Listens where the clause says; throws an Error whose message says where and why
   * (`metrics: cannot listen on 192.0.2.1:9595: Cannot assign requested address (os error 99)`).
   */
  static start(cfg: MetricsConfig, render: () => string): MetricsServer {
    const where = metricsHostPort(cfg);
    let server: Deno.HttpServer;
    try {
      server = Deno.serve({
        hostname: cfg.address,
        port: cfg.port,
        // Deno.serve prints "Listening on …" by default: the daemon's console stays as the reference's.
        onListen: () => {},
        onError: () => new Response("internal error\n", { status: 500 }),
      }, (req) => handle(req, render));
    } catch (e) {
      throw new Error(`metrics: cannot listen on ${where}: ${e instanceof Error ? e.message : String(e)}`);
    }
    return new MetricsServer(server, where);
  }

  /** Stops listening (the daemon is going down). */
  close(): void {
    this.server.shutdown().catch(() => {});
  }
}

const TEXT = { "content-type": "text/plain; charset=utf-8" };

export function handle(req: Request, render: () => string): Response {
  const path = new URL(req.url).pathname;
  if (path !== "/metrics") {
    return new Response("not found: the metrics are at /metrics\n", { status: 404, headers: TEXT });
  }
  if (req.method !== "GET" && req.method !== "HEAD") {
    return new Response("method not allowed\n", { status: 405, headers: { ...TEXT, allow: "GET, HEAD" } });
  }
  const body = render();
  return new Response(req.method === "HEAD" ? null : body, { headers: { "content-type": CONTENT_TYPE } });
}
