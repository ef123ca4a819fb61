/**
 * The `permafrost` command: argument parsing and wiring only. A user mistake (UserError, a bad
 * flag) prints one line and exits 2; an expected failure (a PermafrostError: a failed job, a lost
 * peer) prints one line and exits 1; anything else is a bug and keeps its stack (exit 1).
 */
import { captureNativeStderr, exitCodeOf, isExpectedFailure, log } from '@permafrost/telemetry';
import { Command, CommanderError } from 'commander';
import { registerCache } from './commands/cache';
import { registerCerts } from './commands/certs';
import { registerCoordinator } from './commands/coordinator';
import { registerModels } from './commands/models';
import { registerReport } from './commands/report';
import { registerStatus } from './commands/status';
import { registerTrain } from './commands/train';
import { registerWorker } from './commands/worker';

export async function main(argv: string[]): Promise<number> {
  // before any command loads LMDB: its C diagnostics become JSON log lines too
  const raw = captureNativeStderr();
  if (raw) log().debug("native libraries' stderr lines stay raw", { reason: raw });
  // Node's process warnings (grpc-js names an IP address as the TLS server name: DEP0123) are log
  // lines too, not raw text between them
  process.removeAllListeners('warning');
  process.on('warning', (w) => {
    const fields = { name: w.name, code: (w as { code?: string }).code, message: w.message };
    if (w.name === 'DeprecationWarning') log().debug('node warning', fields);
    else log().warn('node warning', fields);
  });
  const program = new Command('permafrost')
    .description('Distributed fine-tuning of TensorFlow.js models with frozen-feature caching')
    .version('0.1.0')
    .exitOverride()
    // Commander's own errors (unknown option, missing value) become one line like ours.
    .configureOutput({
      outputError: (text, write) =>
        write(
          `permafrost: ${text
            .replace(/^error: /, '')
            .replace(/\s*\n\s*/g, ' ')
            .trim()} (see --help)\n`,
        ),
    });
  registerTrain(program);
  registerModels(program);
  registerCoordinator(program);
  registerWorker(program);
  registerCache(program);
  registerCerts(program);
  registerStatus(program);
  registerReport(program);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return 0;
      return 2; // commander already printed the message
    }
    if (isExpectedFailure(e)) {
      process.stderr.write(`permafrost: ${e.message}\n`);
      return exitCodeOf(e);
    }
    log().error('internal error', { error: e instanceof Error ? (e.stack ?? e.message) : String(e) });
    return 1;
  }
}
