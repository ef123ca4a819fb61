/**
 * Renders a kustomization the way `kustomize build` does, for the subset deploy/k8s uses:
 * `resources` (YAML files, or directories holding a kustomization), `images` (newName, newTag,
 * digest) and `patches` of RFC 6902 operations with a `target` (kind, name). Any other field is
 * an error, so the manifests cannot depend on something this renderer would silently ignore; the
 * manifest test compares its output with `kubectl kustomize` where kubectl is installed.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import jsonPatch, { type Operation } from 'fast-json-patch';
import { parseAllDocuments, parse as parseYaml } from 'yaml';

export type Manifest = { apiVersion: string; kind: string; metadata: { name: string; [k: string]: unknown }; [k: string]: unknown };

interface ImageRule {
  name: string;
  newName?: string;
  newTag?: string;
  digest?: string;
}

interface PatchRule {
  path?: string;
  patch?: string;
  target: { kind?: string; name?: string };
}

const KNOWN = new Set(['apiVersion', 'kind', 'resources', 'images', 'patches']);

/** Every object of the YAML documents in `file`. */
export function readManifests(file: string): Manifest[] {
  return parseAllDocuments(readFileSync(file, 'utf8'))
    .map((d) => {
      if (d.errors.length) throw new Error(`${file}: ${d.errors[0]?.message}`);
      return d.toJS() as Manifest | null;
    })
    .filter((m): m is Manifest => m !== null);
}

/** The manifests that the kustomization in `dir` renders to. */
export function kustomize(dir: string): Manifest[] {
  const file = join(dir, 'kustomization.yaml');
  const k = parseYaml(readFileSync(file, 'utf8')) as Record<string, unknown>;
  const unknown = Object.keys(k).filter((key) => !KNOWN.has(key));
  if (unknown.length) throw new Error(`${file}: ${unknown.join(', ')} not supported by this renderer`);
  const out: Manifest[] = [];
  for (const r of (k.resources as string[] | undefined) ?? []) {
    const p = join(dir, r);
    out.push(...(statSync(p).isDirectory() ? kustomize(p) : readManifests(p)));
  }
  for (const rule of (k.patches as PatchRule[] | undefined) ?? []) applyPatch(out, rule, dir);
  for (const rule of (k.images as ImageRule[] | undefined) ?? []) setImages(out, rule);
  return out;
}

function applyPatch(manifests: Manifest[], rule: PatchRule, dir: string): void {
  const text = rule.path ? readFileSync(join(dir, rule.path), 'utf8') : rule.patch;
  const ops = parseYaml(text ?? '') as Operation[];
  if (!Array.isArray(ops)) throw new Error(`${rule.path ?? 'inline patch'}: only RFC 6902 patches (a list of operations) are supported`);
  const targets = manifests.filter(
    (m) => (!rule.target.kind || m.kind === rule.target.kind) && (!rule.target.name || m.metadata.name === rule.target.name),
  );
  if (targets.length === 0) throw new Error(`${rule.path ?? 'inline patch'}: no resource matches ${JSON.stringify(rule.target)}`);
  for (const m of targets) jsonPatch.applyPatch(m, ops, true, true);
}

/** The pod specs of a workload: its template's, or its own for a Pod. */
function podSpecs(m: Manifest): Record<string, unknown>[] {
  const spec = m.spec as { template?: { spec?: Record<string, unknown> } } | undefined;
  return spec?.template?.spec ? [spec.template.spec] : [];
}

function setImages(manifests: Manifest[], rule: ImageRule): void {
  for (const pod of manifests.flatMap(podSpecs)) {
    const containers = [...((pod.containers as { image: string }[]) ?? []), ...((pod.initContainers as { image: string }[]) ?? [])];
    for (const c of containers) {
      const [, name, tag] = /^([^:@]+(?::\d+\/[^:@]+)?)(?::([^@]+))?/.exec(c.image) ?? [];
      if (name !== rule.name) continue;
      const base = rule.newName ?? name;
      c.image = rule.digest ? `${base}@${rule.digest}` : `${base}${(rule.newTag ?? tag) ? `:${rule.newTag ?? tag}` : ''}`;
    }
  }
}

/** The overlay directories under `root`/deploy/k8s/overlays. */
export function overlays(root: string): string[] {
  const dir = join(root, 'deploy', 'k8s', 'overlays');
  return readdirSync(dir)
    .map((o) => join(dir, o))
    .filter((d) => existsSync(join(d, 'kustomization.yaml')));
}
