/**
 * LayersModel files on disk, in the format `tf.loadLayersModel` reads: model.json (topology plus a
 * weights manifest) and binary weight shards beside it. Plain tfjs has no file:// handler outside
 * tfjs-node, so we read and write the files ourselves.
 *
 * Weight shard paths in model.json are relative to its directory and must stay inside it: a path
 * that is absolute, climbs out (`../../etc/hostname`) or is a link to a file outside is refused,
 * so a model file can never make a run read other files.
 *
 * Saving is atomic: everything goes to a temporary sibling directory which is then renamed into
 * place, so a reader (or a crash) never sees a half-written checkpoint.
 */
import { mkdir, readFile, realpath, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { UserError } from '@permafrost/telemetry';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

interface ModelJsonFile {
  modelTopology?: unknown;
  weightsManifest?: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
  format?: string;
}

export async function loadModelFile(path: string): Promise<tfl.LayersModel> {
  const file = resolve(path);
  let json: ModelJsonFile;
  try {
    json = JSON.parse(await readFile(file, 'utf8')) as ModelJsonFile;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UserError(code === 'ENOENT' ? 'file not found' : `not a readable model.json (${(e as Error).message})`, file);
  }
  if (!json.modelTopology || !Array.isArray(json.weightsManifest)) {
    throw new UserError('not a tfjs LayersModel model.json (needs modelTopology and weightsManifest)', file);
  }
  if (json.format && json.format !== 'layers-model') {
    throw new UserError(`format '${json.format}' is not a LayersModel (graph models cannot be fine-tuned)`, file);
  }
  const specs: tf.io.WeightsManifestEntry[] = [];
  const shards: Uint8Array[] = [];
  for (const group of json.weightsManifest) {
    specs.push(...group.weights);
    for (const p of group.paths) {
      const shard = await shardPath(file, p);
      try {
        shards.push(new Uint8Array(await readFile(shard)));
      } catch {
        throw new UserError('weight shard listed in model.json is missing', shard);
      }
    }
  }
  const data = concat(shards);
  try {
    return await tfl.loadLayersModel(
      tf.io.fromMemory({
        modelTopology: json.modelTopology as tf.io.ModelJSON['modelTopology'],
        weightSpecs: specs,
        weightData: data.buffer as ArrayBuffer,
      }),
    );
  } catch (e) {
    throw new UserError(`cannot build the model: ${(e as Error).message}`, file);
  }
}

const inside = (dir: string, path: string) => {
  const rel = relative(dir, path);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
};

/** The file a weightsManifest path names, inside the model's directory; anything else is a UserError. */
async function shardPath(modelJson: string, p: unknown): Promise<string> {
  const dir = dirname(modelJson);
  if (typeof p !== 'string' || p === '' || isAbsolute(p) || !inside(dir, resolve(dir, p))) {
    throw new UserError(
      `weight path ${JSON.stringify(p)} is outside the model's directory ${dir}; shards must be files beside model.json`,
      modelJson,
    );
  }
  const shard = resolve(dir, p);
  // a link inside the directory may still point outside it
  const [realDir, realShard] = await Promise.all([realpath(dir), realpath(shard).catch(() => undefined)]);
  if (realShard !== undefined && !inside(realDir, realShard)) {
    throw new UserError(`weight path ${JSON.stringify(p)} links to ${realShard}, outside the model's directory ${dir}`, modelJson);
  }
  return shard;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * Writes `model` to `dir` (model.json, weights.bin, and `extra` files such as meta.json)
 * atomically, replacing any previous content.
 */
export async function saveModelDir(model: tfl.LayersModel, dir: string, extra: Record<string, string | Uint8Array> = {}): Promise<void> {
  const target = resolve(dir);
  await mkdir(dirname(target), { recursive: true });
  const tmp = join(dirname(target), `.${basename(target)}.tmp-${process.pid}-${Date.now()}`);
  await mkdir(tmp, { recursive: true });
  try {
    await model.save(
      tf.io.withSaveHandler(async (a) => {
        const weightData = a.weightData ? tf.io.CompositeArrayBuffer.join(a.weightData) : new ArrayBuffer(0);
        await writeFile(join(tmp, 'weights.bin'), new Uint8Array(weightData));
        const modelJson = {
          modelTopology: a.modelTopology,
          format: a.format ?? 'layers-model',
          generatedBy: a.generatedBy,
          convertedBy: 'permafrost',
          weightsManifest: [{ paths: ['weights.bin'], weights: a.weightSpecs ?? [] }],
        };
        await writeFile(join(tmp, 'model.json'), JSON.stringify(modelJson));
        return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(a) };
      }),
    );
    for (const [name, text] of Object.entries(extra)) await writeFile(join(tmp, name), text);
    const old = `${tmp}.old`;
    await rename(target, old).catch(() => undefined);
    await rename(tmp, target);
    await rm(old, { recursive: true, force: true });
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
}
