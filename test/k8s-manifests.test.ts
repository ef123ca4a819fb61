/**
 * deploy/k8s, offline: every overlay renders (test/k8s/kustomize.ts, compared with `kubectl
 * kustomize` where kubectl is installed) and validates strictly against the Kubernetes API's
 * schemas (test/k8s/validate.ts); the invariants the fleet relies on hold in each overlay; a
 * broken manifest is rejected with the field path of each mistake.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { validateJob } from '@permafrost/job';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { argOf, container, find, podSpec, portOf } from './k8s/find';
import { kustomize, type Manifest, overlays, readManifests } from './k8s/kustomize';
import { validateManifests } from './k8s/validate';
import { ROOT } from './support';

const kubectl = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' }).status === 0;
const key = (m: Manifest) => `${m.kind}/${m.metadata.name}`;
const byKey = (ms: Manifest[]) => Object.fromEntries(ms.map((m) => [key(m), m]));
/** The user the image runs as (deploy/Containerfile's USER). */
const imageUser = Number(/^USER (\d+)/m.exec(readFileSync(join(ROOT, 'deploy', 'Containerfile'), 'utf8'))?.[1]);

for (const dir of overlays(ROOT)) {
  const name = relative(ROOT, dir);
  describe(name, () => {
    const ms = kustomize(dir);
    const workers = find(ms, 'StatefulSet', 'permafrost-worker');
    const coordinator = find(ms, 'Job', 'permafrost-coordinator');
    const worker = container(workers);

    it('validates strictly against the Kubernetes schemas', async () => {
      assert.deepEqual(await validateManifests(ms), []);
    });

    it('renders as kubectl kustomize does', { skip: kubectl ? false : 'kubectl is not installed' }, () => {
      const r = spawnSync('kubectl', ['kustomize', dir], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      const theirs = parseAllDocuments(r.stdout).map((d) => d.toJS() as Manifest);
      assert.deepEqual(byKey(ms), byKey(theirs));
    });

    it('gives each worker its pod name as its id and its own cache volume', () => {
      assert.equal(argOf(worker, '--id'), '$(POD_NAME)');
      assert.equal(worker.env?.find((e) => e.name === 'POD_NAME')?.valueFrom?.fieldRef?.fieldPath, 'metadata.name');
      assert.match(argOf(worker, '--advertise') ?? '', /^\$\(POD_NAME\)\.permafrost-worker:/);
      const spec = workers.spec as { podManagementPolicy: string; serviceName: string; volumeClaimTemplates: Manifest[] } & Record<
        string,
        unknown
      >;
      assert.equal(spec.podManagementPolicy, 'Parallel');
      assert.deepEqual(spec.persistentVolumeClaimRetentionPolicy, { whenScaled: 'Retain', whenDeleted: 'Retain' });
      const claims = spec.volumeClaimTemplates;
      const cache = argOf(worker, '--cache-dir');
      const mount = worker.volumeMounts?.find((v) => v.mountPath === cache);
      assert.ok(mount && claims.some((c) => c.metadata.name === mount.name), `${cache} is not on a volume claim template`);
      const headless = find(ms, 'Service', spec.serviceName);
      assert.equal(headless.spec.clusterIP, 'None');
      assert.equal(headless.spec.publishNotReadyAddresses, true);
    });

    it('hands the coordinator a valid job for as many workers as the set has', () => {
      const c = container(coordinator);
      const config = argOf(c, '--config') ?? '';
      const mount = c.volumeMounts?.find((v) => config.startsWith(`${v.mountPath}/`));
      assert.ok(mount, `${config} is not on a mounted volume`);
      const text = (find(ms, 'ConfigMap', 'permafrost-job').data as Record<string, string>)[config.split('/').at(-1) ?? ''];
      const job = validateJob(parseYaml(text ?? ''), 'ConfigMap permafrost-job');
      assert.equal(job.cluster.minWorkers, workers.spec.replicas);
      assert.equal(job.cache.dir, argOf(worker, '--cache-dir'));
      assert.equal(portOf(argOf(worker, '--coordinator')), portOf(argOf(c, '--listen')));
    });

    it('runs every pod as the image user, read-only, unprivileged, probed on /healthz', () => {
      for (const pod of [podSpec(workers), podSpec(coordinator)]) {
        assert.equal(pod.securityContext?.runAsNonRoot, true);
        assert.equal(pod.securityContext?.runAsUser, imageUser);
        for (const c of pod.containers) {
          assert.deepEqual(c.securityContext, {
            allowPrivilegeEscalation: false,
            readOnlyRootFilesystem: true,
            capabilities: { drop: ['ALL'] },
          });
          assert.deepEqual(c.readinessProbe?.httpGet, { path: '/healthz', port: 'http' });
          assert.ok(c.livenessProbe, `${c.name}: no liveness probe`);
          assert.equal(portOf(argOf(c, '--http')), c.ports?.find((p) => p.name === 'http')?.containerPort);
          assert.ok(c.resources?.requests?.cpu && c.resources.requests.memory, `${c.name}: no resource requests`);
          const tmp = c.volumeMounts?.find((v) => v.mountPath === '/tmp');
          assert.ok(pod.volumes?.find((v) => v.name === tmp?.name)?.emptyDir, `${c.name}: /tmp is not writable`);
        }
      }
    });

    it("starts every pod with TLS from its role's Secret, read-only, and the coordinator with the job token", () => {
      const expect = [
        { c: container(coordinator), pod: podSpec(coordinator), secret: 'permafrost-coordinator-tls', own: 'coordinator' },
        { c: worker, pod: podSpec(workers), secret: 'permafrost-worker-tls', own: '$(POD_NAME)' },
      ];
      for (const { c, pod, secret, own } of expect) {
        assert.equal(c.args?.includes('--insecure'), false, `${c.name} runs --insecure`);
        const v = pod.volumes?.find((x) => x.secret?.secretName === secret);
        assert.ok(v?.secret, `${c.name}: no volume of Secret ${secret}`);
        // mounted, not optional: a pod without its certificates must not start (it would refuse anyway)
        assert.notEqual(v.secret.optional, true, `${secret} is optional`);
        assert.ok(v.secret.defaultMode === 0o400 || v.secret.defaultMode === 0o440, `${secret}: mode ${v.secret.defaultMode?.toString(8)}`);
        const mount = c.volumeMounts?.find((m) => m.name === v.name);
        assert.equal(mount?.readOnly, true, `${c.name}: ${secret} is not mounted read-only`);
        assert.deepEqual(
          ['--tls-ca', '--tls-cert', '--tls-key'].map((f) => argOf(c, f)),
          [`${mount?.mountPath}/ca.pem`, `${mount?.mountPath}/${own}.pem`, `${mount?.mountPath}/${own}-key.pem`],
        );
      }
      // the pod's group (fsGroup) reads the secret files; nobody else does
      for (const pod of [podSpec(workers), podSpec(coordinator)]) assert.equal(pod.securityContext?.fsGroup, imageUser);
      const token = container(coordinator).env?.find((e) => e.name === 'PERMAFROST_TOKEN')?.valueFrom?.secretKeyRef;
      assert.deepEqual(token, { name: 'permafrost-job-token', key: 'token' });
      // a worker certificate is named after the pod: the worker id the coordinator binds to it
      assert.equal(argOf(worker, '--id'), '$(POD_NAME)');
    });

    it('opens only the coordinator port to workers and the Peer and data ports among workers', () => {
      const ports = (policy: string) =>
        ((find(ms, 'NetworkPolicy', policy).spec.ingress as { ports: { port: string }[] }[]) ?? []).flatMap((r) =>
          r.ports.map((p) => p.port),
        );
      assert.deepEqual(ports('permafrost-coordinator'), ['grpc']);
      assert.deepEqual(ports('permafrost-worker'), ['peer', 'data']);
      const named = (n: string) => worker.ports?.find((p) => p.name === n)?.containerPort;
      assert.equal(named('peer'), portOf(argOf(worker, '--listen')));
      assert.equal(named('data'), portOf(argOf(worker, '--data-listen')));
      const c = container(coordinator);
      assert.equal(c.ports?.find((p) => p.name === 'grpc')?.containerPort, portOf(argOf(c, '--listen')));
    });
  });
}

describe('deploy/k8s/cache-gc.yaml', () => {
  it("validates, and runs cache gc on a worker's cache claim", async () => {
    const ms = readManifests(join(ROOT, 'deploy', 'k8s', 'cache-gc.yaml'));
    assert.deepEqual(await validateManifests(ms), []);
    const gc = find(ms, 'Job', 'permafrost-cache-gc-permafrost-worker-0');
    const c = container(gc);
    const mount = c.volumeMounts?.find((v) => v.mountPath === argOf(c, '--cache-dir'));
    const claims = kustomize(join(ROOT, 'deploy', 'k8s', 'base'));
    const template = (find(claims, 'StatefulSet', 'permafrost-worker').spec.volumeClaimTemplates as Manifest[])[0]?.metadata.name;
    const volume = podSpec(gc).volumes?.find((v) => v.name === mount?.name);
    // a StatefulSet's claims are named <template>-<set>-<ordinal>
    assert.equal(volume?.persistentVolumeClaim?.claimName, `${template}-permafrost-worker-0`);
    assert.deepEqual(c.args?.slice(0, 2), ['cache', 'gc']);
  });
});

describe('a broken manifest', () => {
  it('is rejected with the field path of each mistake', async () => {
    const problems = await validateManifests(readManifests(join(ROOT, 'test', 'fixtures', 'k8s', 'broken-worker.yaml')));
    const at = (path: string) => problems.some((p) => p.startsWith(`StatefulSet/broken-worker: ${path}: `));
    assert.ok(at('spec.template.spec.securityContext.runAsNonroot'), problems.join('\n'));
    assert.ok(at('spec.template.spec.containers[0].ports[0].containerPort'), problems.join('\n'));
  });
});
