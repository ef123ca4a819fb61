/**
 * The recipe a fingerprint record keeps so that `cache verify` can rebuild its frozen prefix and
 * reopen its dataset without the job file: the job's model section, the data fields that name the
 * dataset, and the seed (built-in models and random-init backbones are seeded). Paths are made
 * absolute when recorded, so the recipe means the same thing from any working directory. The
 * boundary is in the record itself. Sample counts are left out: cached activations are keyed by
 * the dataset's own sample ids, whatever split a run drew.
 */
import { resolve } from 'node:path';
import type { PrefixRecipe } from '@permafrost/cache';
import { type JobSpec, validateJob } from '@permafrost/job';
import { modelSource } from '@permafrost/model';

function absoluteDataset(spec: string): string {
  const m = /^(idx|imagefolder):(.*)$/.exec(spec.trim());
  if (!m) return spec;
  const dir = (m[2] as string).trim();
  // `~` is expanded by the data lib against the home directory, which resolve() would not do
  return dir === '' || dir === '~' || dir.startsWith('~/') ? spec : `${m[1]}:${resolve(dir)}`;
}

/** Drops undefined fields, which JSON would drop anyway, so records compare equal to what they store. */
function defined(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}

export function prefixRecipe(job: JobSpec): PrefixRecipe {
  const model = { ...job.model };
  if (modelSource(model.name) === 'file') model.name = resolve(model.name);
  return {
    model: defined(model),
    data: {
      dataset: absoluteDataset(job.data.dataset),
      fashionMnistDir: resolve(job.data.fashionMnistDir),
      // the dataset id depends on it; the default is left out so older records read the same
      ...(job.data.fingerprint === 'stat' ? {} : { fingerprint: job.data.fingerprint }),
    },
    seed: job.train.seed,
  };
}

/** A job spec that rebuilds the recorded prefix at `boundary`; a recipe this version cannot read is a UserError. */
export function jobFromRecipe(recipe: PrefixRecipe, boundary: string, backend: JobSpec['train']['backend'] = 'auto'): JobSpec {
  return validateJob(
    { model: recipe.model, data: recipe.data, freeze: { boundary }, train: { seed: recipe.seed, backend } },
    'the fingerprint record',
  );
}
