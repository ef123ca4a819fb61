/**
 * Podman for the container tests: every command runs with this test's own CONTAINERS_CONF (runc,
 * because crun fails on hybrid cgroups; ulimits lowered below what a default container asks for),
 * and every container, network, volume and image made through it is recorded so that `cleanup`
 * removes exactly those, plus the iptables chains netavark left behind that were not there before.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type CliResult, runProcess } from '../support';

const CONF = `[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
runtime = "runc"
`;

const TABLES = ['filter', 'nat', 'mangle'] as const;

/** The chains of each iptables table whose name netavark or CNI gives them. */
function firewallChains(): Map<string, Set<string>> {
  const chains = new Map<string, Set<string>>();
  for (const table of TABLES) {
    const r = spawnSync('iptables', ['-t', table, '-S'], { encoding: 'utf8' });
    const names = (r.stdout ?? '').split('\n').flatMap((l) => (/^-N ((NETAVARK|CNI)\S*)/.exec(l)?.[1] ? [l.slice(3)] : []));
    chains.set(table, new Set(names));
  }
  return chains;
}

/** Removes the chains of `after` that `before` did not have, and the rules that jump to them. */
function removeNewChains(before: Map<string, Set<string>>): void {
  for (const [table, names] of firewallChains()) {
    const added = [...names].filter((n) => !before.get(table)?.has(n));
    if (added.length === 0) continue;
    const rules = spawnSync('iptables', ['-t', table, '-S'], { encoding: 'utf8' }).stdout.split('\n');
    for (const rule of rules.filter((l) => l.startsWith('-A ') && added.some((n) => l.includes(`-j ${n}`)))) {
      spawnSync('sh', ['-c', `iptables -t ${table} ${rule.replace(/^-A /, '-D ')}`]);
    }
    for (const n of added) spawnSync('iptables', ['-t', table, '-F', n]);
    for (const n of added) spawnSync('iptables', ['-t', table, '-X', n]);
  }
}

/** The ids of every image, intermediate ones included. */
function imageIds(): string[] {
  const r = spawnSync('podman', ['images', '--all', '--quiet', '--no-trunc'], { encoding: 'utf8' });
  return (r.stdout ?? '').split('\n').filter(Boolean);
}

export interface Podman {
  /** runs `podman ...args` (SIGKILL after `timeoutMs`, default 60 s) */
  run: (args: string[], timeoutMs?: number) => Promise<CliResult>;
  /** like `run`, failing with podman's stderr on a non-zero exit; resolves with stdout, trimmed */
  ok: (args: string[], timeoutMs?: number) => Promise<string>;
  /** records a resource this test created, for `cleanup` */
  created: (kind: 'container' | 'network' | 'volume' | 'image', name: string) => void;
  cleanup: () => Promise<void>;
}

/** Podman with its configuration written to `dir`. */
export function podman(dir: string): Podman {
  const conf = join(dir, 'containers.conf');
  writeFileSync(conf, CONF);
  const env = { CONTAINERS_CONF: conf };
  const chainsBefore = firewallChains();
  const imagesBefore = new Set(imageIds());
  const made = { container: [] as string[], network: [] as string[], volume: [] as string[], image: [] as string[] };
  const run = (args: string[], timeoutMs = 60_000) => runProcess('podman', args, { env, timeoutMs });
  const ok = async (args: string[], timeoutMs?: number) => {
    const r = await run(args, timeoutMs);
    if (r.code !== 0) throw new Error(`podman ${args.join(' ')} exited ${r.code}:\n${r.stderr}`);
    return r.stdout.trim();
  };
  return {
    run,
    ok,
    created: (kind, name) => made[kind].push(name),
    cleanup: async () => {
      // in this order: containers hold volumes, networks and images
      if (made.container.length) await run(['rm', '--force', '--time', '0', ...made.container]);
      if (made.volume.length) await run(['volume', 'rm', '--force', ...made.volume]);
      if (made.network.length) await run(['network', 'rm', '--force', ...made.network]);
      for (const image of made.image.reverse()) await run(['rmi', '--force', image]);
      // the untagged images of build stages and layers
      const left = imageIds().filter((id) => !imagesBefore.has(id));
      if (left.length) await run(['rmi', '--force', ...left]);
      removeNewChains(chainsBefore);
    },
  };
}

/** Whether podman can be run here at all (its version, or undefined). */
export function podmanVersion(): string | undefined {
  const r = spawnSync('podman', ['--version'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}
