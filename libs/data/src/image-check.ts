/**
 * The start-of-run check of an image folder: every file is opened and its header decoded
 * (`headers`, the default: sharp reads the format's header only, a few milliseconds per file), or
 * decoded in full (`full`), or not checked (`none`). Every problem is collected, so a run that
 * cannot start names all the bad files at once instead of failing at the first bad batch.
 */
import sharp from 'sharp';

export type ValidateMode = 'full' | 'headers' | 'none';

export interface FileProblem {
  path: string;
  problem: string;
}

/** files checked at a time: sharp works on libuv's thread pool, so a few in flight keep it busy */
const PARALLEL = 8;

async function checkOne(path: string, mode: ValidateMode): Promise<string | undefined> {
  try {
    if (mode === 'full') {
      await sharp(path).raw().toBuffer();
      return undefined;
    }
    const m = await sharp(path).metadata();
    if (!m.width || !m.height) return 'no image size in its header';
    return undefined;
  } catch (e) {
    return (e as Error).message.split('\n')[0];
  }
}

/** The files among `paths` that fail the check, in the order given. */
export async function checkImages(paths: readonly string[], mode: ValidateMode): Promise<FileProblem[]> {
  if (mode === 'none') return [];
  const problems: (FileProblem | undefined)[] = new Array(paths.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < paths.length; i = next++) {
      const problem = await checkOne(paths[i] as string, mode);
      if (problem !== undefined) problems[i] = { path: paths[i] as string, problem };
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL, paths.length) }, worker));
  return problems.filter((p): p is FileProblem => p !== undefined);
}

/** One line naming every bad file (the first `shown`, then a count). */
export function describeProblems(problems: readonly FileProblem[], shown = 20): string {
  const listed = problems.slice(0, shown).map((p) => `${p.path} (${p.problem})`);
  const more = problems.length > shown ? `; and ${problems.length - shown} more` : '';
  return `${problems.length} image file${problems.length === 1 ? '' : 's'} cannot be decoded: ${listed.join('; ')}${more}`;
}
