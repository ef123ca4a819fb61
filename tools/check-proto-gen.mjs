// Fails when the committed generated code (libs/proto/src/gen) is not what `buf generate` makes
// from proto/ today: someone edited a .proto without regenerating, or hand-edited the output.
// Generates into a temporary directory with a copy of proto/buf.gen.yaml whose `out` paths point
// there, compares byte for byte, and names every file that differs, is missing or is extra.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { parse } from 'yaml';

const root = resolve(import.meta.dirname, '..');
const protoDir = join(root, 'proto');
const template = parse(readFileSync(join(protoDir, 'buf.gen.yaml'), 'utf8'));

const files = (dir) => {
  const out = [];
  const walk = (d) => {
    if (!existsSync(d)) return;
    for (const e of readdirSync(d).sort()) {
      const p = join(d, e);
      if (statSync(p).isDirectory()) walk(p);
      else out.push(relative(dir, p));
    }
  };
  walk(dir);
  return out;
};

const scratch = mkdtempSync(join(tmpdir(), 'permafrost-proto-gen-'));
let status = 0;
try {
  // buf resolves `out` against the directory it runs in, so each plugin's committed output is
  // proto/<out>; the fresh one goes to scratch/<plugin index>.
  const committed = template.plugins.map((p) => resolve(protoDir, p.out));
  const fresh = template.plugins.map((_, i) => join(scratch, String(i)));
  const temp = { ...template, plugins: template.plugins.map((p, i) => ({ ...p, out: fresh[i] })) };
  const gen = spawnSync('npx', ['--no-install', 'buf', 'generate', '--template', JSON.stringify(temp)], {
    cwd: protoDir,
    stdio: 'inherit',
  });
  if (gen.status !== 0) {
    console.error('check-proto-gen: buf generate failed');
    process.exit(gen.status ?? 1);
  }
  const problems = [];
  committed.forEach((want, i) => {
    const got = fresh[i];
    const a = new Set(files(want));
    const b = new Set(files(got));
    for (const f of [...new Set([...a, ...b])].sort()) {
      const shown = relative(root, join(want, f));
      if (!b.has(f)) problems.push(`${shown}: not generated from proto/ (stale file?)`);
      else if (!a.has(f)) problems.push(`${shown}: missing (run nx run proto:generate)`);
      else if (!readFileSync(join(want, f)).equals(readFileSync(join(got, f)))) problems.push(`${shown}: differs from what buf generates`);
    }
  });
  if (problems.length > 0) {
    console.error(`check-proto-gen: generated code is out of date; run \`npx nx run proto:generate\`:\n  ${problems.join('\n  ')}`);
    status = 1;
  } else {
    console.log('check-proto-gen: libs/proto/src/gen matches proto/');
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
process.exit(status);
