/**
 * The HTTP ports of the two roles: the coordinator's serves its FleetView (health, metrics, the
 * status view and the dashboard), a worker's its WorkerObserver (health and metrics).
 */
import { dashboardPage } from './dashboard-page';
import type { FleetView } from './fleet-view';
import { type ObserveAccess, type ObserveServer, startObserveServer } from './http-server';
import type { WorkerObserver } from './worker-observer';

export function serveFleet(listen: string, view: FleetView, flag = '--http', access: ObserveAccess = {}): Promise<ObserveServer> {
  let page: string | undefined;
  return startObserveServer(
    listen,
    {
      health: () => view.health(),
      metrics: () => view.metrics.text(),
      metricsContentType: view.metrics.registry.contentType,
      status: () => view.status(),
      page: () => {
        page ??= dashboardPage({ title: 'Permafrost' });
        return page;
      },
    },
    flag,
    access,
  );
}

export function serveWorker(listen: string, observer: WorkerObserver, flag = '--http'): Promise<ObserveServer> {
  return startObserveServer(
    listen,
    {
      health: () => observer.health(),
      metrics: () => observer.metrics.text(),
      metricsContentType: observer.metrics.registry.contentType,
    },
    flag,
  );
}
