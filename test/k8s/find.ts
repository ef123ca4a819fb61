/** Lookups in rendered manifests for the invariant tests: a resource by kind and name, its pods' containers. */
import type { Manifest } from './kustomize';

// The parts of the Kubernetes types the invariant tests read.
export interface Container {
  name: string;
  args?: string[];
  env?: { name: string; valueFrom?: { fieldRef?: { fieldPath: string }; secretKeyRef?: { name: string; key: string } } }[];
  ports?: { name?: string; containerPort: number }[];
  readinessProbe?: { httpGet?: { path: string; port: string | number } };
  livenessProbe?: Record<string, unknown>;
  resources?: { requests?: Record<string, string | number> };
  securityContext?: { allowPrivilegeEscalation?: boolean; readOnlyRootFilesystem?: boolean; capabilities?: { drop?: string[] } };
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
}

export interface PodSpec {
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number; fsGroup?: number };
  containers: Container[];
  volumes?: {
    name: string;
    emptyDir?: unknown;
    secret?: { secretName: string; optional?: boolean; defaultMode?: number };
    persistentVolumeClaim?: { claimName: string };
  }[];
}

/** The resource `kind`/`name`, or an error listing what there is. */
export function find(ms: Manifest[], kind: string, name: string): Manifest & { spec: Record<string, unknown> } {
  const m = ms.find((x) => x.kind === kind && x.metadata.name === name);
  if (!m) throw new Error(`no ${kind}/${name} among ${ms.map((x) => `${x.kind}/${x.metadata.name}`).join(', ')}`);
  return m as Manifest & { spec: Record<string, unknown> };
}

export function podSpec(m: Manifest): PodSpec {
  return (m.spec as { template: { spec: PodSpec } }).template.spec;
}

/** The first (here: the only) container of a workload's pods. */
export function container(m: Manifest): Container {
  const c = podSpec(m).containers[0];
  if (!c) throw new Error(`${m.kind}/${m.metadata.name} has no container`);
  return c;
}

/** The value after `flag` in a container's args. */
export function argOf(c: Container, flag: string): string | undefined {
  const i = c.args?.indexOf(flag) ?? -1;
  return i >= 0 ? c.args?.[i + 1] : undefined;
}

/** The port number of `host:port`. */
export const portOf = (address: string | undefined) => Number(address?.split(':').at(-1));
