/**
 * Module boundaries (docs/architecture.md#layout). Layers, top to bottom:
 *   apps/*                                  the CLI: parsing and wiring
 *   libs/{coordinator,worker,observe,transport-grpc,transport-tcp} feature libs
 *   libs/{trainer,cache,model,data,freeze,collective,job,security} core libs
 *   libs/{engine,proto,telemetry}           foundation
 * Arrows point down only; core libs never import gRPC, the CLI or a tfjs backend package (only
 * libs/engine chooses backends); other libs are reached only through their package name
 * (@permafrost/x -> libs/x/src/index.ts), never by reaching into their files.
 */
const FEATURE = '(coordinator|worker|observe|transport-grpc|transport-tcp)';
const CORE = '(trainer|cache|model|data|freeze|collective|job|security)';
const FOUNDATION = '(engine|proto|telemetry)';
const BACKENDS = '^(node_modules/)?@tensorflow/tfjs-(backend-[a-z]+|node|node-gpu)(/|$)';

module.exports = {
  forbidden: [
    { name: 'no-circular', severity: 'error', from: {}, to: { circular: true } },
    { name: 'libs-not-to-apps', severity: 'error', from: { path: '^libs/' }, to: { path: '^apps/' } },
    { name: 'core-not-to-feature', severity: 'error', from: { path: `^libs/${CORE}/` }, to: { path: `^libs/${FEATURE}/` } },
    {
      name: 'foundation-not-up',
      severity: 'error',
      from: { path: `^libs/${FOUNDATION}/` },
      to: { path: [`^libs/${CORE}/`, `^libs/${FEATURE}/`] },
    },
    {
      name: 'backends-only-in-engine',
      comment: 'only libs/engine imports a tfjs backend package',
      severity: 'error',
      from: { path: '^(apps|libs)/', pathNot: ['^libs/engine/', '\\.spec\\.ts$'] },
      to: { path: BACKENDS },
    },
    {
      name: 'no-grpc-or-cli-in-core',
      severity: 'error',
      from: { path: `^libs/${CORE}/` },
      to: { path: '(^|/)node_modules/(@grpc/|commander/)' },
    },
    {
      name: 'tcp-data-plane-without-grpc',
      comment: 'the raw TCP data plane stands beside gRPC, not on it',
      severity: 'error',
      from: { path: '^libs/transport-tcp/' },
      to: { path: ['(^|/)node_modules/@grpc/', '^libs/(transport-grpc|proto)/'] },
    },
    {
      name: 'no-tfjs-union-package',
      comment: 'import @tensorflow/tfjs-core / -layers; the union package registers backends as a side effect',
      severity: 'error',
      from: { path: '^(apps|libs)/' },
      to: { path: '(^|/)node_modules/@tensorflow/tfjs/' },
    },
    {
      name: 'only-public-index-across-libs',
      comment: 'another lib is used through its index.ts only (and specs through its testing.ts)',
      severity: 'error',
      from: { path: '^(libs|apps)/([^/]+)/' },
      to: { path: '^libs/([^/]+)/src/', pathNot: ['^libs/$2/', '^libs/[^/]+/src/(index|testing)\\.ts$'] },
    },
    {
      name: 'test-support-only-in-tests',
      comment: "a lib's testing.ts (node:test suites and helpers) is for specs and test files only",
      severity: 'error',
      from: { path: '^(libs|apps)/', pathNot: ['\\.spec\\.ts$', '^libs/[^/]+/src/(testing|test-[^/]+)\\.ts$'] },
      to: { path: '^libs/[^/]+/src/testing\\.ts$' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|tmp)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'] },
    combinedDependencies: true,
  },
};
