// Lists the functions longer than a limit: `node tools/long-functions.mjs <max> <dir|file>...`.
// Parses each TypeScript file with the compiler API and measures every function declaration,
// function expression, arrow function, method, accessor and constructor that has a body, from the
// line it starts on (decorators and modifiers included, comments before it not) to the line of its
// closing brace: end line - start line + 1. Tests and test support are left aside (*.spec.ts,
// *.test.ts, testing.ts, *-testing.ts, test-*.ts), and so are declaration files and generated code
// (a gen/ directory, or a file whose first comment says @generated). Prints `file:line  N lines
// name` for each function over the limit, longest first, then a count of what it measured; exits
// 1 when any function is over the limit, 2 on bad arguments.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';

const SOURCE = /\.(ts|tsx|mts|cts)$/;
const ASIDE = [/\.d\.(ts|mts|cts)$/, /\.(spec|test)\.(ts|tsx|mts|cts)$/, /^testing\.ts$/, /-testing\.ts$/, /^test-[^/]+\.ts$/];
const SKIP_DIRS = new Set(['node_modules', 'dist', 'tmp', 'gen']);

function sourceFiles(path) {
  if (!statSync(path).isDirectory()) return [path];
  return readdirSync(path)
    .sort()
    .flatMap((e) => {
      const p = join(path, e);
      if (statSync(p).isDirectory()) return SKIP_DIRS.has(e) || e.startsWith('.') ? [] : sourceFiles(p);
      return SOURCE.test(e) && !ASIDE.some((re) => re.test(e)) ? [p] : [];
    });
}

const generated = (text) => /^\s*(\/\/[^\n]*|\/\*[\s\S]*?\*\/)/.exec(text)?.[0].includes('@generated') ?? false;

/** A readable name: `f`, `Class.method`, `Class.constructor`, the variable or property an arrow is bound to. */
function nameOf(node, sf) {
  const text = (n) => (n && !ts.isComputedPropertyName(n) ? n.getText(sf) : undefined);
  const owner = ts.isClassLike(node.parent) ? `${node.parent.name?.getText(sf) ?? '(class)'}.` : '';
  if (ts.isConstructorDeclaration(node)) return `${owner}constructor`;
  if (ts.isMethodDeclaration(node) || ts.isGetAccessor(node) || ts.isSetAccessor(node)) {
    const kind = ts.isGetAccessor(node) ? 'get ' : ts.isSetAccessor(node) ? 'set ' : '';
    return `${kind}${owner}${text(node.name) ?? '(computed)'}`;
  }
  const own = node.name && text(node.name);
  if (own) return own;
  const p = node.parent;
  if (ts.isVariableDeclaration(p) || ts.isPropertyAssignment(p) || ts.isPropertyDeclaration(p)) {
    const prop = ts.isPropertyDeclaration(p) && ts.isClassLike(p.parent) ? `${p.parent.name?.getText(sf) ?? '(class)'}.` : '';
    return `${prop}${text(p.name) ?? '(computed)'}`;
  }
  const kind = ts.isArrowFunction(node) ? 'arrow' : 'function';
  const within = enclosing(node, sf);
  if (ts.isCallExpression(p) || ts.isNewExpression(p)) {
    const callee = ts.isPropertyAccessExpression(p.expression) ? `.${p.expression.name.text}` : p.expression.getText(sf).slice(0, 40);
    return `(${kind} passed to ${ts.isNewExpression(p) ? 'new ' : ''}${callee}${within ? ` in ${within}` : ''})`;
  }
  return `(${kind}${within ? ` in ${within}` : ''})`;
}

/** The name of the nearest named function around `node`, for an anonymous one. */
function enclosing(node, sf) {
  for (let n = node.parent; n; n = n.parent) {
    if (isFunction(n)) {
      const name = nameOf(n, sf);
      if (!name.startsWith('(')) return name;
    }
  }
  return undefined;
}

const isFunction = (n) =>
  ts.isFunctionDeclaration(n) ||
  ts.isFunctionExpression(n) ||
  ts.isArrowFunction(n) ||
  ts.isMethodDeclaration(n) ||
  ts.isConstructorDeclaration(n) ||
  ts.isGetAccessor(n) ||
  ts.isSetAccessor(n);

/** Every function with a body in `text` (the contents of `file`): { file, line, lines, name }. */
export function measure(file, text) {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const out = [];
  const visit = (node) => {
    if (isFunction(node) && node.body) {
      const start = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line;
      const end = sf.getLineAndCharacterOfPosition(node.getEnd()).line;
      out.push({ file, line: start + 1, lines: end - start + 1, name: nameOf(node, sf) });
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

/** The functions over `max` lines in the source files under `paths`, longest first, and how many were measured. */
export function longFunctions(max, paths) {
  const files = paths
    .flatMap(sourceFiles)
    .map((file) => ({ file, text: readFileSync(file, 'utf8') }))
    .filter((f) => !generated(f.text));
  const all = files.flatMap((f) => measure(f.file, f.text));
  const over = all.filter((f) => f.lines > max).sort((a, b) => b.lines - a.lines || a.file.localeCompare(b.file) || a.line - b.line);
  return { over, functions: all.length, files: files.length };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [maxArg, ...paths] = process.argv.slice(2);
  const max = Number(maxArg);
  if (!Number.isInteger(max) || max < 1 || paths.length === 0) {
    console.error('usage: long-functions.mjs <max lines> <dir|file>...');
    process.exit(2);
  }
  const missing = paths.find((p) => {
    try {
      statSync(p);
      return false;
    } catch {
      return true;
    }
  });
  if (missing) {
    console.error(`long-functions: ${missing}: no such file or directory`);
    process.exit(2);
  }
  const { over, functions, files } = longFunctions(max, paths);
  for (const f of over) process.stdout.write(`${relative(process.cwd(), f.file)}:${f.line}  ${f.lines} lines  ${f.name}\n`);
  process.stdout.write(`${over.length} functions over ${max} lines (${functions} measured in ${files} files)\n`);
  process.exit(over.length === 0 ? 0 : 1);
}
