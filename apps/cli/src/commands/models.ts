import { initEngine } from '@permafrost/engine';
import { BUILTIN, BUNDLED, blockLayout, layerCosts, loadBundled, parseBlockPattern, validBoundaries } from '@permafrost/model';
import { UserError } from '@permafrost/telemetry';
import type { Command } from 'commander';

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
        const rows = [
          ...Object.values(BUNDLED).map((m) => ({ name: m.name, kind: 'bundled backbone', description: m.description })),
          ...Object.values(BUILTIN).map((m) => ({ name: m.name, kind: 'built-in', description: m.description })),
        ];
        if (opts.json) process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
        else for (const r of rows) process.stdout.write(`${r.name.padEnd(14)} ${r.kind.padEnd(17)} ${r.description}\n`);
        return;
      }
      if (!(opts.model in BUNDLED)) {
        throw new UserError(`'${opts.model}' is not a bundled model (${Object.keys(BUNDLED).join(', ')})`, '--model');
      }
      const size = Number(opts.inputSize);
      if (!Number.isInteger(size)) throw new UserError(`expected an integer, got '${opts.inputSize}'`, '--input-size');
      await initEngine('auto');
      const model = await loadBundled(opts.model, { inputSize: size });
      const valid = new Set(validBoundaries(model, { includeOutput: true }));
      const info = BUNDLED[opts.model];
      const { blocks } = blockLayout(model, model.layers.length, info ? parseBlockPattern(info.blockPattern) : undefined);
      const costs = layerCosts(model);
      const total = costs.reduce((a, c) => a + c.flops, 0);
      let cumFlops = 0;
      let cumParams = 0;
      const rows = costs.map((c) => {
        cumFlops += c.flops;
        cumParams += c.params;
        return {
          layer: c.name,
          class: c.className,
          boundary: valid.has(c.name),
          params: c.params,
          prefixParams: cumParams,
          mflops: c.flops / 1e6,
          prefixShareOfForward: cumFlops / total,
          outputShape: c.outputShape,
        };
      });
      if (opts.json) {
        process.stdout.write(
          `${JSON.stringify({ model: opts.model, inputSize: size, totalMflops: total / 1e6, layers: rows, blocks: blocks.map((b) => ({ name: b.name, layers: b.layers, last: b.last, mflops: b.flops / 1e6 })) }, null, 2)}\n`,
        );
        return;
      }
      process.stdout.write(
        `${opts.model} at ${size}x${size}: ${(total / 1e6).toFixed(1)} MFLOPs forward per sample, ${cumParams} parameters\n`,
      );
      process.stdout.write(`valid freeze boundaries (layer, output shape, prefix params, layer MFLOPs, prefix share of forward cost):\n`);
      for (const r of rows.filter((x) => x.boundary)) {
        process.stdout.write(
          `  ${r.layer.padEnd(28)} ${`[${r.outputShape.join(',')}]`.padEnd(14)} ${String(r.prefixParams).padStart(9)} ${r.mflops.toFixed(2).padStart(8)} ${(100 * r.prefixShareOfForward).toFixed(1).padStart(6)}%\n`,
        );
      }
      process.stdout.write(`blocks (freeze.policy last-k and freezeout freeze them whole; last layer, layers, MFLOPs):\n`);
      for (const b of blocks) {
        process.stdout.write(
          `  ${b.name.padEnd(14)} ${b.last.padEnd(26)} ${String(b.layers.length).padStart(3)} ${(b.flops / 1e6).toFixed(2).padStart(8)}\n`,
        );
      }
    });
}
