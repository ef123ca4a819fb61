import { readFile, writeFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { compareTable, dashboardPage, formatStatus, reportView } from '@permafrost/observe';
import { UserError } from '@permafrost/telemetry';
import type { RunReport } from '@permafrost/trainer';
import type { Command } from 'commander';

/** A run report (`--report` of train or coordinator start), checked for the fields the views read. */
async function readReport(file: string): Promise<RunReport> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(file, 'utf8'));
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code ?? 'not JSON';
    throw new UserError(`cannot read a run report (${why})`, file);
  }
  const r = parsed as Partial<RunReport>;
  if (!Array.isArray(r.epochs) || !Array.isArray(r.members) || typeof r.final !== 'object' || typeof r.data !== 'object') {
    throw new UserError('not a run report: expected epochs, members, data and final', file);
  }
  return r as RunReport;
}

async function writeHtml(out: string, html: string): Promise<void> {
  await writeFile(out, html).catch((e: NodeJS.ErrnoException) => {
    throw new UserError(`cannot write (${e.code ?? e.message})`, out);
  });
  process.stderr.write(`wrote ${out}\n`);
}

export function registerReport(program: Command): void {
  const report = program.command('report').description("a finished run's report (the JSON of --report)");
  report
    .command('show <run.json>')
    .description('the dashboard of a finished run: as text, or a self-contained HTML page')
    .option('--html <out.html>', 'write the dashboard page here (it loads nothing from anywhere)')
    .action(async (file: string, opts: { html?: string }) => {
      const view = reportView(await readReport(file));
      if (opts.html) await writeHtml(opts.html, dashboardPage({ title: `Permafrost: ${basename(file)}`, view }));
      else process.stdout.write(formatStatus(view));
    });
  report
    .command('compare <a.json> <b.json>')
    .description('two runs side by side: a table, and with --html their epoch curves overlaid')
    .option('--html <out.html>', 'write a page with both runs, curves overlaid')
    .action(async (a: string, b: string, opts: { html?: string }) => {
      const runs = [
        { name: basename(a, '.json'), report: await readReport(a) },
        { name: basename(b, '.json'), report: await readReport(b) },
      ];
      if (runs[0]?.name === runs[1]?.name) for (const [i, r] of runs.entries()) r.name = `${i === 0 ? 'A' : 'B'}:${r.name}`;
      process.stdout.write(compareTable(runs));
      if (opts.html) {
        const compare = runs.map((r) => ({ name: r.name, view: reportView(r.report) }));
        await writeHtml(
          opts.html,
          dashboardPage({
            title: `Permafrost: ${runs.map((r) => r.name).join(' vs ')}`,
            view: compare[0]?.view ?? reportView(runs[0]?.report as RunReport),
            compare,
          }),
        );
      }
    });
}
