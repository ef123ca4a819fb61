import { create, toJson } from '@bufbuild/protobuf';
import type { CoordinatorClient } from '@permafrost/coordinator';
import { fetchStatus, formatStatus, type StatusView, splitHostPort, watchStatus } from '@permafrost/observe';
import { StatusRequestSchema, StatusResponseSchema, WatchRequestSchema } from '@permafrost/proto';
import { loadToken } from '@permafrost/security';
import { PermafrostError, UserError } from '@permafrost/telemetry';
import { createCoordinatorClient } from '@permafrost/transport-grpc';
import type { Command } from 'commander';
import { parseCount } from '../parse';

type StatusOpts = Record<string, string | boolean | undefined>;

/** One view: JSON (one line) or text; on a TTY a watched view replaces the one before. */
function printer(json: boolean, watch: boolean): (v: StatusView) => void {
  const redraw = watch && !json && process.stdout.isTTY;
  return (v) => {
    if (json) process.stdout.write(`${JSON.stringify(v)}\n`);
    else process.stdout.write(`${redraw ? '\x1b[H\x1b[2J' : ''}${formatStatus(v)}${watch && !redraw ? '\n' : ''}`);
  };
}

/** The HTTP route: the coordinator's `--http` port, one view or a watch. */
async function httpStatus(address: string, opts: StatusOpts): Promise<void> {
  splitHostPort(address, '--coordinator');
  const timeoutMs = opts.timeoutMs === undefined ? 5000 : parseCount(String(opts.timeoutMs), '--timeout-ms', 1);
  const print = printer(Boolean(opts.json), Boolean(opts.watch));
  const token = loadToken(opts.tokenFile === undefined ? undefined : String(opts.tokenFile));
  if (!opts.watch) {
    print(await fetchStatus(address, timeoutMs, token));
    return;
  }
  const intervalMs = opts.intervalMs === undefined ? 1000 : parseCount(String(opts.intervalMs), '--interval-ms', 100);
  const last = await watchStatus(address, { intervalMs, timeoutMs, onView: print, maxMs: 7 * 24 * 3600 * 1000, token });
  if (last.state === 'failed') throw new PermafrostError('aborted', `the job failed: ${last.reason ?? 'no reason given'}`);
}

/** The gRPC route: the coordinator's control port, the Status RPC with a tool certificate or the job token. */
async function grpcStatus(address: string, opts: StatusOpts): Promise<void> {
  const [ca, cert, key] = [opts.tlsCa, opts.tlsCert, opts.tlsKey].map((v) => (v === undefined ? undefined : String(v)));
  if ((cert === undefined) !== (key === undefined)) throw new UserError('give --tls-cert and --tls-key together', '--tls-key');
  if (cert !== undefined && ca === undefined) throw new UserError('a certificate needs the job CA', '--tls-ca');
  const token = loadToken(opts.tokenFile === undefined ? undefined : String(opts.tokenFile));
  const tls = ca === undefined ? undefined : { ca, cert, key };
  const client = createCoordinatorClient(address, { tls, token });
  try {
    if (opts.watch) {
      await grpcWatch(client, printer(Boolean(opts.json), true));
      return;
    }
    const status = await client.status(create(StatusRequestSchema, {}), 10_000);
    process.stdout.write(`${JSON.stringify(toJson(StatusResponseSchema, status))}\n`);
  } finally {
    client.close();
  }
}

/**
 * The Watch stream: each snapshot's view printed as it comes, until the coordinator completes the
 * call (the job ended) or Ctrl-C (SIGINT) cancels it, which ends the command normally.
 */
async function grpcWatch(client: CoordinatorClient, print: (v: StatusView) => void): Promise<void> {
  const call = client.watch(create(WatchRequestSchema, {}));
  let last: StatusView | undefined;
  let interrupted = false;
  const onSigint = () => {
    interrupted = true;
    call.cancel();
  };
  process.once('SIGINT', onSigint);
  try {
    const error = await new Promise<Error | undefined>((done) => {
      call.onEvent((e) => {
        last = JSON.parse(e.viewJson) as StatusView;
        print(last);
      });
      call.onClose(done);
    });
    if (interrupted) return;
    if (error) throw error;
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
  if (last?.state === 'failed') throw new PermafrostError('aborted', `the job failed: ${last.reason ?? 'no reason given'}`);
}

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description(
      "a running job's progress, workers, freeze schedule and epochs from the coordinator's HTTP port; with --tls-ca or --grpc, from the control port (a tool certificate or the job token): Status (state and workers) or, with --watch, the Watch stream of the whole view",
    )
    .requiredOption('--coordinator <host:port>', "the coordinator's HTTP port (coordinator start --http), or its control port with --grpc")
    .option('--watch', 'keep printing as the job progresses, until it ends (over --grpc: the Watch stream; Ctrl-C stops)')
    .option('--json', 'the status view as JSON (one object per line with --watch)')
    .option('--interval-ms <ms>', 'how often --watch asks (default 1000)')
    .option('--timeout-ms <ms>', 'how long one request may take (default 5000)')
    .option('--grpc', "ask the coordinator's control port (the Status RPC, or Watch with --watch); implied by --tls-ca")
    .option('--tls-ca <file>', "the job CA's certificate (without it: plaintext, for an --insecure coordinator)")
    .option('--tls-cert <file>', 'a certificate of the job (the tool certificate of `certs init`); or use the token')
    .option('--tls-key <file>', "that certificate's key")
    .option('--token-file <file>', 'the job token, for either port (default: $PERMAFROST_TOKEN)')
    .action(async (opts: StatusOpts) => {
      const address = String(opts.coordinator);
      if (opts.grpc || opts.tlsCa !== undefined) await grpcStatus(address, opts);
      else await httpStatus(address, opts);
    });
}
