import { formatPreview } from '@permafrost/freeze';
import { loadJob } from '@permafrost/job';
import { previewJob, trainJob } from '@permafrost/trainer';
import type { Command } from 'commander';
import { addJobFlags, jobOverrides } from '../job-flags';

export function registerTrain(program: Command): void {
  const cmd = program
    .command('train')
    .description('fine-tune in one process (no network): frozen prefix in inference mode, suffix trained')
    .option('--report <file>', 'write the JSON run report here')
    .option('--print-config', 'print the resolved job spec and exit')
    .option(
      '--dry-run',
      'print the freeze schedule (per block: freeze step and epoch, forward cost share) and the expected speedups, then exit',
    );
  addJobFlags(cmd).action(async (opts: Record<string, unknown>) => {
    const job = await loadJob(opts.config as string | undefined, jobOverrides(opts));
    if (opts.printConfig) {
      process.stdout.write(`${JSON.stringify(job, null, 2)}\n`);
      return;
    }
    if (opts.dryRun) {
      process.stdout.write(`${formatPreview(await previewJob(job))}\n`);
      return;
    }
    const report = await trainJob(job, { reportPath: opts.report as string | undefined });
    process.stdout.write(
      `${JSON.stringify({ valAccuracy: report.final.valAccuracy, valLoss: report.final.valLoss, seconds: Math.round(report.final.seconds * 100) / 100, checkpoint: report.final.checkpoint })}\n`,
    );
  });
}
