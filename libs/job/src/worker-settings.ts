/**
 * The settings of one worker process (`permafrost worker start`): what it needs before it knows
 * the job, which comes from the coordinator. Validated like a job spec: a bad value is one
 * UserError naming the flag.
 */
import { UserError } from '@permafrost/telemetry';
import { z } from 'zod';
import { hostPort, jobId } from './schema';

export const workerSettingsSchema = z
  .object({
    /** the coordinator to join, HOST:PORT */
    coordinator: hostPort,
    /** Peer service address (default 127.0.0.1:0: loopback, any free port) */
    listen: hostPort.default('127.0.0.1:0'),
    /** the address peers dial; default: the bound listen address */
    advertise: hostPort.optional(),
    /** TCP data plane address (default: the host of `listen`, any free port) */
    dataListen: hostPort.optional(),
    /** the data address peers dial; default: the host of `advertise` with the bound data port */
    dataAdvertise: hostPort.optional(),
    /** this worker's activation cache */
    cacheDir: z.string().min(1).default('.permafrost/cache'),
    /** stable worker id (default: host name + cache directory) */
    id: z
      .string()
      .regex(/^[^\s]{1,128}$/, 'expected 1-128 characters without spaces')
      .optional(),
    /** the job this worker was started for; the coordinator refuses it if it runs another */
    jobId: jobId.optional(),
    joinTimeoutMs: z.number().int().positive().default(60_000),
    /** deadline of each allreduce receive (default: the job's cluster.collectiveTimeoutMs) */
    collectiveTimeoutMs: z.number().int().positive().optional(),
    /** how long to retry a lost coordinator before exiting (default: the job's cluster.coordinatorGraceMs) */
    coordinatorGraceMs: z.number().int().nonnegative().optional(),
    /** wasm: XNNPACK threads of this worker, `auto`: every core (local workers sharing a host get 1) */
    threads: z.union([z.literal('auto'), z.number().int().positive().max(64)]).default('auto'),
    /** a connection to the Peer or data port must complete its handshake within this long (default: the servers', 5000) */
    handshakeTimeoutMs: z.number().int().positive().optional(),
    /** HOST:PORT of this worker's HTTP port (/healthz, /metrics); unset: none */
    http: hostPort.optional(),
    /** keep the HTTP port up this long after the job ends, so a scraper reads the final values */
    lingerMs: z.number().int().nonnegative().max(600_000).default(0),
    /** shared segment per data connection to a rank on this host, bytes; 0: values over TCP only */
    sharedMemoryBytes: z
      .number()
      .int()
      .nonnegative()
      .default(8 * 1024 * 1024),
    /** TLS files: the job CA, this worker's certificate and key (certs init); all or none */
    tlsCa: z.string().min(1).optional(),
    tlsCert: z.string().min(1).optional(),
    tlsKey: z.string().min(1).optional(),
    /** plaintext, unauthenticated: allowed only when asked for */
    insecure: z.boolean().default(false),
  })
  .strict();

export type WorkerSettings = z.infer<typeof workerSettingsSchema>;

/** `flagOf` names the flag (or variable) each field came from, for the error. */
export function validateWorkerSettings(input: Record<string, unknown>, flagOf: (field: string) => string): WorkerSettings {
  const r = workerSettingsSchema.safeParse(input);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const field = String(issue?.path[0] ?? '');
  const got = field in input ? `, got '${String(input[field])}'` : '';
  throw new UserError(`${issue?.message.replace(/^Invalid input: /, '') ?? 'invalid'}${got}`, flagOf(field));
}
