import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * Every service serves /metrics (Prometheus text format), /healthz (the process runs and its event
 * loop answers) and /readyz (its dependencies answer: 200 with each check, or 503 naming the failing one).
 */
export interface ReadinessCheck {
  readonly name: string;
  readonly check: () => Promise<boolean> | boolean;
}

export interface ServiceHttp {
  readonly server: Server;
  readonly port: number;
  close(): Promise<void>;
}

export async function startServiceHttp(options: {
  readonly host: string;
  readonly port: number;
  /** A prom-client Registry, or anything that renders metrics the same way (a cluster aggregator). */
  readonly registry: { metrics(): Promise<string>; readonly contentType: string };
  readonly readiness: readonly ReadinessCheck[];
}): Promise<ServiceHttp> {
  const server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    if (path === '/metrics') {
      options.registry.metrics().then(
        (text) => {
          response.writeHead(200, { 'Content-Type': options.registry.contentType });
          response.end(text);
        },
        (err: Error) => {
          response.writeHead(500).end(err.message);
        },
      );
      return;
    }
    if (path === '/healthz') {
      response.writeHead(200, { 'Content-Type': 'application/json' }).end('{"status":"ok"}');
      return;
    }
    if (path === '/readyz') {
      void Promise.all(
        options.readiness.map(
          async ({ name, check }) => [name, await Promise.resolve(check()).catch(() => false)] as const,
        ),
      ).then((results) => {
        const ready = results.every(([, ok]) => ok);
        response
          .writeHead(ready ? 200 : 503, { 'Content-Type': 'application/json' })
          .end(
            JSON.stringify({ status: ready ? 'ready' : 'not ready', checks: Object.fromEntries(results) }),
          );
      });
      return;
    }
    response.writeHead(404).end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  return {
    server,
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
