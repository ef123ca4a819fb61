import { initEngine } from '@permafrost/engine';
import { BUNDLED, formatModelList, formatModelTable, listModels, modelTable } from '@permafrost/model';
import { UserError } from '@permafrost/telemetry';
import type { Command } from 'commander';
import { parseCount } from '../parse';

export function registerModels(program: Command): void {
  const models = program.command('models').description('bundled and built-in models');
  models
    .command('ls')
    .description('list models; with --model, its valid freeze boundaries with parameters and forward cost')
    .option('--model <name>', 'a bundled model to describe')
    .option('--input-size <px>', 'input size for the cost estimate', '224')
    .option('--json', 'machine-readable output')
    .action(async (opts: { model?: string; inputSize: string; json?: boolean }) => {
      if (!opts.model) {
        const rows = listModels();
        process.stdout.write(opts.json ? `${JSON.stringify(rows, null, 2)}\n` : formatModelList(rows));
        return;
      }
      if (!(opts.model in BUNDLED)) {
        throw new UserError(`'${opts.model}' is not a bundled model (${Object.keys(BUNDLED).join(', ')})`, '--model');
      }
      const size = parseCount(opts.inputSize, '--input-size', 1);
      await initEngine('auto');
      const table = await modelTable(opts.model, size);
      process.stdout.write(opts.json ? `${JSON.stringify(table, null, 2)}\n` : formatModelTable(table));
    });
}
