/**
 * Strict validation of Kubernetes manifests, offline, against the API's OpenAPI schemas as the
 * kubernetes-models package carries them: its validators (generated from the schemas) check
 * types, required fields, enums and formats; the same package's TypeScript declarations
 * (generated from the same schemas) catch what those validators let through, a field the API
 * does not have, through TypeScript's excess-property check. Each problem is reported as
 * `Kind/name: field.path: message`.
 */
import { join } from 'node:path';
import ts from 'typescript';
import type { Manifest } from './kustomize';

/** The kubernetes-models module of a manifest's apiVersion and kind. */
function modelPath(m: Manifest): string {
  const [group, version] = m.apiVersion.includes('/') ? m.apiVersion.split('/') : ['', m.apiVersion];
  return `kubernetes-models/${group ? `${group}/` : ''}${version}/${m.kind}`;
}

/** `/spec/containers/0/name` as `spec.containers[0].name`. */
function fieldPath(pointer: string): string {
  return pointer
    .split('/')
    .filter(Boolean)
    .map((p, i) => (/^\d+$/.test(p) ? `[${p}]` : i === 0 ? p : `.${p}`))
    .join('');
}

const label = (m: Manifest) => `${m.kind}/${m.metadata?.name}`;

/** What the package's schema validator finds wrong with `m`. */
export async function schemaErrors(m: Manifest): Promise<string[]> {
  let mod: Record<string, new (d: unknown) => { validate(): void }>;
  try {
    mod = await import(modelPath(m));
  } catch {
    return [`${label(m)}: no schema for apiVersion ${m.apiVersion}, kind ${m.kind}`];
  }
  const Model = mod[m.kind];
  if (!Model) return [`${label(m)}: no schema for kind ${m.kind}`];
  try {
    new Model(m).validate();
    return [];
  } catch (e) {
    const errors = (e as { errors?: { instancePath: string; message?: string }[] }).errors ?? [];
    if (errors.length === 0) throw e;
    return errors.map((x) => `${label(m)}: ${fieldPath(x.instancePath) || '(root)'}: ${x.message}`);
  }
}

/** The path of property names and array indices from the literal's root down to `node`. */
function nodePath(node: ts.Node): string {
  const parts: string[] = [];
  for (let n: ts.Node | undefined = node; n; n = n.parent) {
    const parent = n.parent;
    if (ts.isPropertyAssignment(n)) parts.unshift(`.${(n.name as ts.StringLiteral).text}`);
    else if (parent && ts.isArrayLiteralExpression(parent)) parts.unshift(`[${parent.elements.indexOf(n as ts.Expression)}]`);
    if (parent && ts.isVariableDeclaration(parent)) break;
  }
  return parts.join('').replace(/^\./, '');
}

function nodeAt(file: ts.SourceFile, pos: number): ts.Node {
  let found: ts.Node = file;
  const visit = (n: ts.Node) => {
    if (n.getStart(file) <= pos && pos < n.getEnd()) {
      found = n;
      ts.forEachChild(n, visit);
    }
  };
  ts.forEachChild(file, visit);
  return found;
}

/** Fields that the API's types do not have (and any other type mismatch TypeScript sees). */
export function typeErrors(manifests: Manifest[]): string[] {
  const lines = manifests.map(
    (m, i) => `import type { I${m.kind} as T${i} } from '${modelPath(m)}';\nexport const m${i}: T${i} = ${JSON.stringify(m, null, 1)};`,
  );
  // a file that exists only in memory, beside this one, so that kubernetes-models resolves
  const name = join(import.meta.dirname, 'rendered-manifests.ts');
  const text = lines.join('\n');
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    types: [],
    skipLibCheck: true,
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile;
  host.getSourceFile = (f, v, ...rest) => (f === name ? ts.createSourceFile(f, text, v, true) : getSourceFile.call(host, f, v, ...rest));
  host.fileExists = (
    (exists) => (f: string) =>
      f === name || exists(f)
  )(host.fileExists);
  const program = ts.createProgram([name], options, host);
  const file = program.getSourceFile(name);
  if (!file) throw new Error('the manifests did not compile');
  return program.getSemanticDiagnostics(file).map((d) => {
    const node = nodeAt(file, d.start ?? 0);
    const decl = ts.findAncestor(node, ts.isVariableDeclaration);
    const m = manifests[Number(decl?.name.getText(file).slice(1))];
    const message = ts.flattenDiagnosticMessageText(d.messageText, ' ').split(/(?<=\.) /)[0];
    return `${m ? label(m) : '?'}: ${nodePath(node)}: ${message}`;
  });
}

/** Every problem of `manifests`, by schema and by type; empty when they are all valid. */
export async function validateManifests(manifests: Manifest[]): Promise<string[]> {
  const bySchema = (await Promise.all(manifests.map(schemaErrors))).flat();
  return [...bySchema, ...typeErrors(manifests)];
}
