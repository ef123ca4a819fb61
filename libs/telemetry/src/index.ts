export type { LogFields, Logger, LoggerOptions, LogLevel } from './logger';
export { createLogger, log, setLogger } from './logger';
export type { ProgressOptions } from './progress';
export { Progress } from './progress';
export { isUserError, UserError } from './user-error';
