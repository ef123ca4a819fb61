export type { ErrorCode } from './errors';
export { exitCodeOf, isExpectedFailure, isUserError, PermafrostError, UserError } from './errors';
export type { LogFields, Logger, LoggerOptions, LogLevel } from './logger';
export { createLogger, log, setLogger } from './logger';
export type { ProgressOptions } from './progress';
export { Progress } from './progress';
export type { EpochLine, StepLine } from './run-progress';
export { RunProgress } from './run-progress';
