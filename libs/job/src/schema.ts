/**
 * The job spec: everything a run needs, in seven sections (model, data, freeze, train, cache,
 * cluster, checkpoint). Every field has a default except what names the work itself; unknown
 * fields are errors, so a typo never silently falls back to a default.
 */
import { z } from 'zod';

const posInt = z.number().int().positive();
const nonNegInt = z.number().int().nonnegative();

export const modelSection = z
  .object({
    /** bundled (mobilenet_v2), built-in (mlp, cnn-small) or a path to a LayersModel model.json */
    name: z.string().min(1),
    /** square input size in pixels; default: the model's own */
    inputSize: posInt.optional(),
    /** with a head: the backbone's last layer (bundled default out_relu) */
    cut: z.string().min(1).optional(),
    /** classification head, e.g. gap-128 (pooling gap|gmp|flatten, hidden sizes, d<dropout>) */
    head: z.string().min(1).optional(),
    /** bundled backbones: false trains on seeded random weights instead (a baseline) */
    pretrained: z.boolean().default(true),
    /** pixel range the model expects, e.g. [-1, 1] */
    inputRange: z.tuple([z.number(), z.number()]).optional(),
  })
  .strict();

/**
 * Data augmentation while training (validation never is). Input transforms, applied to each
 * decoded image before preprocessing and the frozen prefix, seeded per (seed, epoch, sample) or,
 * with `cache.views`, per (seed, view, sample); and featureNoise and featureDropout, applied to
 * the boundary activations, which keeps the cache as it is. Writing the section (or `--augment`)
 * turns the standard input set on; set a transform to 0/false to leave it out.
 */
export const augmentSection = z
  .object({
    /** random crop: zero padding in pixels on each side, then a crop of the original size (0: none) */
    crop: nonNegInt.max(16).default(4),
    /** horizontal flip with probability 1/2 */
    flip: z.boolean().default(true),
    /** brightness jitter: a value in [-brightness, brightness] added to pixels in [0, 1] */
    brightness: z.number().min(0).max(0.5).default(0.1),
    /** contrast jitter: distance from the image mean scaled by a factor in [1 - contrast, 1 + contrast] */
    contrast: z.number().min(0).max(0.5).default(0.1),
    /** standard deviation of Gaussian noise added to the boundary activations (after the frozen prefix; 0: none) */
    featureNoise: z.number().min(0).max(10).default(0),
    /** inverted dropout on the boundary activations: the probability a value is dropped, in [0, 1) (0: none) */
    featureDropout: z.number().min(0).lt(1).default(0),
  })
  .strict();

/** `augment: true` is the standard set, `false` none. */
const augmentField = z.preprocess((v) => (v === true ? {} : v === false ? undefined : v), augmentSection.optional());

export const dataSection = z
  .object({
    /** mnist | fashion-mnist | idx:DIR | imagefolder:DIR */
    dataset: z.string().min(1),
    /** training samples drawn from the dataset (default: all not used for validation) */
    trainSamples: posInt.optional(),
    /** validation samples (default: min(1000, 10% of the dataset)) */
    valSamples: nonNegInt.optional(),
    fashionMnistDir: z.string().min(1).default('/usr/share/datasets/fashion-mnist'),
    /** the check of every image file at start: headers (fast), full (decode every file) or none */
    validate: z.enum(['full', 'headers', 'none']).default('headers'),
    /** what an imagefolder dataset's cache identity covers per file: stat (size, mtime) or content (SHA-256) */
    fingerprint: z.enum(['stat', 'content']).default('stat'),
    /** training-time augmentation (augmentSection); absent: none */
    augment: augmentField,
  })
  .strict();

export const freezeSection = z
  .object({
    /**
     * prefix: a fixed boundary (layer name or trainableLast); last-k: all but the last k blocks
     * frozen; freezeout: the trainable blocks freeze one after another (FreezeOut; from the input
     * when no boundary, trainableLast or k is given); none: nothing frozen, every layer trains
     */
    policy: z.enum(['prefix', 'last-k', 'freezeout', 'none']).default('prefix'),
    /** last frozen layer (for freezeout: the initial boundary) */
    boundary: z.string().min(1).optional(),
    /** freeze all but the last n layers */
    trainableLast: posInt.optional(),
    /** last-k and freezeout: blocks left trainable before the head */
    k: posInt.optional(),
    /** regex whose first capture group names a layer's block; default: the model's own */
    blockPattern: z.string().min(1).optional(),
    /** freezeout: how t_i grows over the blocks */
    schedule: z.enum(['linear', 'squared', 'cubic']).default('cubic'),
    /** freezeout: the first block's freeze time before the power is applied, in (0, 1] */
    t0: z.number().gt(0).max(1).default(0.8),
    /** freezeout: start block i at lr / t_i */
    scaleLr: z.boolean().default(true),
  })
  .strict()
  .refine((f) => [f.boundary, f.trainableLast, f.k].filter((x) => x !== undefined).length <= 1, {
    message: 'give one of boundary, trainableLast and k',
  })
  .refine((f) => f.policy !== 'last-k' || f.k !== undefined, { message: 'policy last-k needs k', path: ['k'] })
  .refine((f) => f.policy !== 'prefix' || f.k === undefined, { message: 'k applies to policies last-k and freezeout', path: ['k'] })
  .refine((f) => f.policy !== 'none' || [f.boundary, f.trainableLast, f.k].every((x) => x === undefined), {
    message: 'policy none freezes nothing: drop boundary, trainableLast and k',
    path: ['policy'],
  });

export const trainSection = z
  .object({
    epochs: posInt.default(3),
    batchSize: posInt.default(32),
    optimizer: z.enum(['sgd', 'adam']).default('adam'),
    lr: z.number().positive().default(0.001),
    /** sgd only */
    momentum: z.number().min(0).max(1).default(0),
    /** sgd only; needs momentum > 0 */
    nesterov: z.boolean().default(false),
    /** L2 penalty added to the gradient (as PyTorch's weight_decay) */
    weightDecay: z.number().min(0).default(0),
    seed: nonNegInt.default(42),
    backend: z.enum(['auto', 'tensorflow-gpu', 'tensorflow', 'wasm', 'cpu']).default('auto'),
    /** wasm: XNNPACK threads of a `train` process, `auto`: every core (workers take `worker start --threads`) */
    threads: z.union([z.literal('auto'), posInt.max(64)]).default('auto'),
  })
  .strict()
  .refine((t) => !t.nesterov || (t.optimizer === 'sgd' && t.momentum > 0), {
    message: 'nesterov needs optimizer sgd and momentum > 0',
    path: ['nesterov'],
  });

export const cacheSection = z
  .object({
    /** cache frozen-prefix activations in LMDB: epochs after the first skip the prefix */
    enabled: z.boolean().default(true),
    /** one LMDB environment per directory; runs with the same frozen prefix share entries */
    dir: z.string().min(1).default('.permafrost/cache'),
    /** float32 is exact; float16 halves the bytes */
    codec: z.enum(['float32', 'float16']).default('float32'),
    /**
     * with input augmentation before a frozen prefix: augmented views cached per sample, each epoch
     * training on one of them; 0 runs training uncached (every epoch a fresh augmentation)
     */
    views: nonNegInt.max(16).default(0),
  })
  .strict();

/** HOST:PORT, the host a name, an IPv4 address or a bracketed IPv6 address; port 0: any free port */
export const hostPort = z.string().regex(/^([^:\s[\]]+|\[[0-9A-Fa-f:.]+\]):\d{1,5}$/, 'expected HOST:PORT');

/** a job id: letters, digits, '.', '_' and '-' */
export const jobId = z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, "expected 1-64 letters, digits, '.', '_' or '-'");

export const clusterSection = z
  .object({
    /** coordinator address HOST:PORT */
    listen: hostPort.default('127.0.0.1:0'),
    /** the job's id, carried in every control-plane message; default: a random id per run */
    jobId: jobId.optional(),
    /** worker processes the coordinator spawns on loopback */
    localWorkers: nonNegInt.default(0),
    /** fewer workers than this: the job waits up to rejoinTimeoutMs for workers, then fails */
    minWorkers: posInt.default(1),
    /** the most workers a job takes; a worker joining beyond it is refused (default: the starting count) */
    maxWorkers: posInt.optional(),
    /** how long a job below minWorkers waits for workers to (re)join before it fails */
    rejoinTimeoutMs: posInt.default(30_000),
    /** membership changes (generations after the first) a job survives; local workers restarted at most this often each */
    maxRestarts: nonNegInt.default(10),
    /** losses of one worker id (crashed, silent, failed) a job survives; one more excludes that worker for the rest of the job */
    maxWorkerFailures: nonNegInt.default(3),
    /**
     * how long a collective waits for a peer before it fails on this rank (a broken connection
     * fails it at once); the survivors then roll back and wait for the new membership
     */
    collectiveTimeoutMs: posInt.default(5_000),
    joinTimeoutMs: posInt.default(60_000),
    /** how often each worker sends a heartbeat on its session */
    heartbeatMs: posInt.default(1_000),
    /**
     * how long the coordinator waits for any message from a worker before it counts the worker as
     * lost; generous by default, since a worker on a loaded host can spend seconds in one kernel
     */
    heartbeatTimeoutMs: posInt.default(30_000),
    /**
     * how long a worker that lost its coordinator (its session broke, or nothing for
     * heartbeatTimeoutMs) keeps its state and retries it, for a coordinator restarted with
     * `--resume` to take it back; then it exits. 0: exit at once
     */
    coordinatorGraceMs: nonNegInt.default(60_000),
    /**
     * what carries the gradient allreduce between workers: tcp, a raw TCP data plane (each worker's
     * data port, `worker start --data-listen`), or grpc, the Peer service on each worker's
     * `--listen` port (slower: grpc-js costs several ms of CPU per MiB). Control stays on gRPC.
     */
    transport: z.enum(['tcp', 'grpc']).default('tcp'),
    /**
     * the coordinator's TLS files (`--tls-ca`, `--tls-cert`, `--tls-key`): the job CA every
     * client certificate must come from, and its own certificate and key (`permafrost certs
     * init`); without them and without local workers the coordinator refuses to start unless
     * `insecure`
     */
    tls: z
      .object({ ca: z.string().min(1), cert: z.string().min(1), key: z.string().min(1) })
      .strict()
      .optional(),
    /** plaintext and unauthenticated control and data planes (`--insecure`): for a private test network only */
    insecure: z.boolean().default(false),
    /** a file holding the job token tools present (`--token-file`; default: the PERMAFROST_TOKEN variable) */
    tokenFile: z.string().min(1).optional(),
  })
  .strict()
  .refine((c) => c.heartbeatTimeoutMs > c.heartbeatMs, {
    message: 'heartbeatTimeoutMs must be longer than heartbeatMs',
    path: ['heartbeatTimeoutMs'],
  });

export const observeSection = z
  .object({
    /**
     * HOST:PORT of the coordinator's HTTP port (/healthz, /metrics, /api/status, the dashboard);
     * unset: 127.0.0.1:0 with local workers, no port otherwise
     */
    http: hostPort.optional(),
    /** keep the HTTP port up this long after the job ends, so a scraper reads the final values */
    lingerMs: nonNegInt.max(600_000).default(0),
  })
  .strict();

export const checkpointSection = z
  .object({
    /** directory for checkpoints; unset: no checkpoints */
    dir: z.string().min(1).optional(),
    /** also write one at every epoch end (besides the final one) */
    everyEpoch: z.boolean().default(true),
  })
  .strict();

export const jobSpecSchema = z
  .object({
    model: modelSection,
    data: dataSection,
    freeze: freezeSection.default(freezeSection.parse({})),
    train: trainSection.default(trainSection.parse({})),
    cache: cacheSection.default(cacheSection.parse({})),
    cluster: clusterSection.default(clusterSection.parse({})),
    checkpoint: checkpointSection.default(checkpointSection.parse({})),
    observe: observeSection.default(observeSection.parse({})),
  })
  .strict()
  .refine((j) => j.cache.views === 0 || hasInputAugment(j.data.augment), {
    message: 'needs data.augment with an input transform (crop, flip, brightness or contrast)',
    path: ['cache', 'views'],
  });

/** Whether an augment section changes the input (not only the activations). */
export function hasInputAugment(a: z.infer<typeof augmentSection> | undefined): boolean {
  return a !== undefined && (a.crop > 0 || a.flip || a.brightness > 0 || a.contrast > 0);
}

export type JobSpec = z.infer<typeof jobSpecSchema>;
export type JobSpecInput = z.input<typeof jobSpecSchema>;
