/**
 * The BASE_IMAGE of the container test, made offline (no container registry is reachable): Debian
 * bookworm's minbase from apt (mmdebstrap) with tini and OpenBLAS, then this host's node binary (it runs on
 * bookworm's glibc), its headers (for the native module), npm and the host's npm configuration
 * and trust store copied in, and `podman import`. It stands in for node:20-bookworm-slim.
 */
import { realpathSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { runProcess } from '../support';
import type { Podman } from './podman';

/** Where this host's node keeps what the image needs. */
function hostNode() {
  const prefix = dirname(dirname(process.execPath));
  const npmCli = realpathSync(join(prefix, 'bin', 'npm'));
  return {
    node: process.execPath,
    include: join(prefix, 'include', 'node'),
    npm: dirname(dirname(npmCli)),
    npmrc: join(prefix, 'etc', 'npmrc'),
  };
}

/** The customize hook: copies the host's node into the root file system at $1. */
function hookScript(): string {
  const h = hostNode();
  return `set -eu
root="$1"
install -m 755 '${h.node}' "$root/usr/local/bin/node"
mkdir -p "$root/usr/local/include" "$root/usr/local/lib/node_modules" "$root/usr/local/etc" "$root/etc/ssl/certs"
cp -a '${h.include}' "$root/usr/local/include/node"
cp -a '${h.npm}' "$root/usr/local/lib/node_modules/npm"
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
if [ -f '${h.npmrc}' ]; then cp '${h.npmrc}' "$root/usr/local/etc/npmrc"; fi
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"; fi
`;
}

/** Makes the base image `tag` in `dir` (about 1-2 min, mostly apt); fails with mmdebstrap's output. */
export async function buildBaseImage(p: Podman, dir: string, tag: string): Promise<void> {
  const hook = join(dir, 'node-hook.sh');
  writeFileSync(hook, hookScript());
  const rootfs = join(dir, 'rootfs.tar');
  const r = await runProcess(
    'mmdebstrap',
    ['--variant=minbase', '--include=tini,libopenblas0-pthread', `--customize-hook=sh ${hook} "$1"`, 'bookworm', rootfs],
    { timeoutMs: 600_000 },
  );
  if (r.code !== 0) throw new Error(`mmdebstrap exited ${r.code}:\n${r.stderr.slice(-4000)}`);
  await p.ok(['import', rootfs, tag], 300_000);
  p.created('image', tag);
}
