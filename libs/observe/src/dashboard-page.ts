/**
 * The dashboard page: one self-contained HTML document with uPlot (its minified script and
 * stylesheet, read from node_modules) and the dashboard's own script and styles inlined, so the
 * page requests nothing but its own origin's /api/status. Live, it polls that every second; given
 * a status view (a finished run's report), it draws that once and requests nothing at all.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { StatusView } from './status-view';

const require = createRequire(import.meta.url);

function asset(name: string): string {
  return readFileSync(join(import.meta.dirname, 'page', name), 'utf8');
}

function uplot(): { script: string; style: string } {
  const dist = dirname(require.resolve('uplot/dist/uPlot.iife.min.js'));
  return {
    script: readFileSync(join(dist, 'uPlot.iife.min.js'), 'utf8'),
    style: readFileSync(join(dist, 'uPlot.min.css'), 'utf8'),
  };
}

/** JSON that is safe inside a <script> element. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c');
}

export interface PageOptions {
  title: string;
  /** a finished run's view: drawn once, nothing polled */
  view?: StatusView;
  /** compared runs: their epoch curves overlaid */
  compare?: { name: string; view: StatusView }[];
}

export function dashboardPage(o: PageOptions): string {
  const u = uplot();
  const data = o.view
    ? `<script id="pf-data" type="application/json">${scriptJson({ view: o.view, compare: o.compare ?? [] })}</script>`
    : '';
  const title = o.title.replace(/[<>&"]/g, (c) => `&#${c.charCodeAt(0)};`);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>${title}</title>
<style>${u.style}</style>
<style>${asset('dashboard.css')}</style>
</head>
<body>
${asset('dashboard.html')}
${data}
<script>${u.script}</script>
<script>${asset('dashboard.js')}</script>
</body>
</html>
`;
}
