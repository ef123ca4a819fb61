import { create, toJson } from '@bufbuild/protobuf';
import { StatusRequestSchema, StatusResponseSchema } from '@permafrost/proto';
import { loadToken } from '@permafrost/security';
import { UserError } from '@permafrost/telemetry';
import { createCoordinatorClient } from '@permafrost/transport-grpc';
import type { Command } from 'commander';

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description("a running job's state, epoch and workers (read-only: a tool certificate or the job token)")
    .requiredOption('--coordinator <host:port>', 'the coordinator to ask')
    .option('--tls-ca <file>', "the job CA's certificate (without it: plaintext, for an --insecure coordinator)")
    .option('--tls-cert <file>', 'a certificate of the job (the tool certificate of `certs init`); or use the token')
    .option('--tls-key <file>', "that certificate's key")
    .option('--token-file <file>', 'the job token (default: $PERMAFROST_TOKEN)')
    .action(async (opts: { coordinator: string; tlsCa?: string; tlsCert?: string; tlsKey?: string; tokenFile?: string }) => {
      if ((opts.tlsCert === undefined) !== (opts.tlsKey === undefined))
        throw new UserError('give --tls-cert and --tls-key together', '--tls-key');
      if (opts.tlsCert !== undefined && opts.tlsCa === undefined) throw new UserError('a certificate needs the job CA', '--tls-ca');
      const token = loadToken(opts.tokenFile);
      const tls = opts.tlsCa === undefined ? undefined : { ca: opts.tlsCa, cert: opts.tlsCert, key: opts.tlsKey };
      const client = createCoordinatorClient(opts.coordinator, { tls, token });
      try {
        const status = await client.status(create(StatusRequestSchema, {}), 10_000);
        process.stdout.write(`${JSON.stringify(toJson(StatusResponseSchema, status))}\n`);
      } finally {
        client.close();
      }
    });
}
