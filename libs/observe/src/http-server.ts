/**
 * The HTTP port of a coordinator or worker (docs/observability.md#the-http-port), on node:http:
 *
 *   GET /healthz      200 while healthy, else 503; a small JSON body either way
 *   GET /metrics      the Prometheus text format
 *   GET /api/status   the status view, JSON (coordinator)
 *   GET /             the dashboard page (coordinator)
 *
 * Anything else is 404, a method other than GET or HEAD 405. `/healthz` and `/metrics` are open,
 * as Prometheus scraping usually is. With a job token (`access.token`) the dashboard and `/api/*`
 * need it, as `Authorization: Bearer TOKEN` or `?token=TOKEN` (the page passes its own query on to
 * the API), compared in constant time (401 otherwise). Without a token they are open on loopback
 * only: another address needs the token, or `access.insecure` (a warning at start).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { checkToken } from '@permafrost/security';
import { log, UserError } from '@permafrost/telemetry';

export interface Health {
  ok: boolean;
  body: Record<string, unknown>;
}

export interface ObserveRoutes {
  health: () => Health;
  metrics: () => Promise<string>;
  metricsContentType: string;
  status?: () => unknown;
  page?: () => string;
}

/** Who may read the dashboard and /api: the job token, and whether to serve them open beyond loopback without one. */
export interface ObserveAccess {
  token?: string;
  insecure?: boolean;
}

export interface ObserveServer {
  /** the bound HOST:PORT (an IPv6 host in brackets) */
  address: string;
  close(): Promise<void>;
}

/** The dashboard loads nothing from anywhere: inline code and styles, requests to this origin only. */
const PAGE_POLICY = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; connect-src 'self'";

export function splitHostPort(listen: string, flag: string): { host: string; port: number } {
  const m = /^(\[([0-9A-Fa-f:.]+)\]|[^:\s[\]]+):(\d{1,5})$/.exec(listen);
  const port = Number(m?.[3]);
  if (!m || port > 65535) throw new UserError(`expected HOST:PORT, got '${listen}'`, flag);
  return { host: m[2] ?? (m[1] as string), port };
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

/** Refuses an open dashboard beyond loopback unless `insecure` (then warns). */
function checkExposure(host: string, listen: string, access: ObserveAccess, flag: string): void {
  if (isLoopback(host) || access.token) return;
  if (!access.insecure) {
    throw new UserError(
      `${listen} is not loopback: the dashboard and /api there need the job token (cluster.tokenFile or $PERMAFROST_TOKEN), or --insecure`,
      flag,
    );
  }
  log().warn('http port open beyond loopback', { listen, note: 'no job token: whoever reaches this port reads the job' });
}

export async function startObserveServer(
  listen: string,
  routes: ObserveRoutes,
  flag = '--http',
  access: ObserveAccess = {},
): Promise<ObserveServer> {
  const { host, port } = splitHostPort(listen, flag);
  checkExposure(host, listen, access, flag);
  const server = createServer((req, res) => {
    handle(routes, req, res, access.token).catch((e: unknown) => send(res, 500, 'text/plain', `${(e as Error).message}\n`));
  });
  server.keepAliveTimeout = 5000;
  await new Promise<void>((ok, fail) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      fail(e.code === 'EADDRINUSE' || e.code === 'EADDRNOTAVAIL' ? new UserError(`cannot listen on ${listen}: ${e.code}`, flag) : e),
    );
    server.listen(port, host, () => ok());
  });
  const a = server.address() as AddressInfo;
  const address = a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
  return {
    address,
    close: () =>
      new Promise<void>((done) => {
        server.close(() => done());
        server.closeAllConnections();
      }),
  };
}

/** The token a request presents: its bearer header, else its `token` query parameter. */
function presented(req: IncomingMessage, url: URL): string | undefined {
  const auth = req.headers.authorization;
  if (auth?.startsWith('Bearer ')) return auth.slice('Bearer '.length).trim();
  return url.searchParams.get('token') ?? undefined;
}

async function handle(routes: ObserveRoutes, req: IncomingMessage, res: ServerResponse, token: string | undefined): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    send(res, 405, 'text/plain', 'only GET and HEAD\n', { allow: 'GET, HEAD' });
    return;
  }
  const url = new URL(req.url ?? '/', 'http://port');
  const path = url.pathname;
  const guarded = path === '/' || path.startsWith('/api/');
  if (guarded && token !== undefined && !checkToken(token, presented(req, url))) {
    send(res, 401, 'text/plain', 'the job token is needed here (Authorization: Bearer, or ?token=)\n', { 'www-authenticate': 'Bearer' });
    return;
  }
  if (path === '/healthz') {
    const h = routes.health();
    send(res, h.ok ? 200 : 503, 'application/json', `${JSON.stringify(h.body)}\n`);
  } else if (path === '/metrics') {
    send(res, 200, routes.metricsContentType, await routes.metrics());
  } else if (path === '/api/status' && routes.status) {
    send(res, 200, 'application/json', JSON.stringify(routes.status()));
  } else if (path === '/' && routes.page) {
    send(res, 200, 'text/html; charset=utf-8', routes.page(), { 'content-security-policy': PAGE_POLICY });
  } else {
    send(res, 404, 'text/plain', 'not found\n');
  }
}

function send(res: ServerResponse, code: number, type: string, body: string, headers: Record<string, string> = {}): void {
  if (res.headersSent) return;
  res.writeHead(code, { 'content-type': type, 'cache-control': 'no-store', ...headers });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}
