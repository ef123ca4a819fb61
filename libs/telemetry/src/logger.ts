/**
 * Structured logging. On a TTY lines are short and human; otherwise (CI, files, pipes) each line
 * is one JSON object, so logs can be parsed; native libraries' stderr lines are wrapped the same
 * way (native-stderr.ts). PERMAFROST_LOG=silent|error|warn|info|debug sets the level (default
 * info).
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<LogLevel | 'silent', number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 99 };

export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  child(fields: LogFields): Logger;
}

export interface LoggerOptions {
  level?: LogLevel | 'silent';
  format?: 'json' | 'text';
  stream?: NodeJS.WritableStream;
  fields?: LogFields;
}

/** The level PERMAFROST_LOG sets (default info). */
export function logLevel(): LogLevel | 'silent' {
  const v = process.env.PERMAFROST_LOG;
  return v && v in ORDER ? (v as LogLevel | 'silent') : 'info';
}

/** text on a terminal, JSON lines everywhere else */
export function logFormat(stream: NodeJS.WritableStream = process.stderr): 'json' | 'text' {
  return (stream as { isTTY?: boolean }).isTTY ? 'text' : 'json';
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const stream = opts.stream ?? process.stderr;
  const level = opts.level ?? logLevel();
  const format = opts.format ?? logFormat(stream);
  const base = opts.fields ?? {};
  const write = (lvl: LogLevel, msg: string, fields?: LogFields) => {
    if (ORDER[lvl] < ORDER[level]) return;
    const all = { ...base, ...fields };
    if (format === 'json') {
      stream.write(`${JSON.stringify({ time: new Date().toISOString(), level: lvl, msg, ...all })}\n`);
    } else {
      const kv = Object.entries(all)
        .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
        .join(' ');
      stream.write(`${lvl === 'info' ? '' : `${lvl}: `}${msg}${kv ? ` ${kv}` : ''}\n`);
    }
  };
  return {
    debug: (m, f) => write('debug', m, f),
    info: (m, f) => write('info', m, f),
    warn: (m, f) => write('warn', m, f),
    error: (m, f) => write('error', m, f),
    child: (fields) => createLogger({ level, format, stream, fields: { ...base, ...fields } }),
  };
}

let root: Logger | undefined;
/** The process-wide logger; the CLI replaces it once flags are parsed. */
export function log(): Logger {
  root ??= createLogger();
  return root;
}
export function setLogger(l: Logger): void {
  root = l;
}
