export type { ErrorCode } from './errors';
export { exitCodeOf, isExpectedFailure, PermafrostError, StoppedError, UserError } from './errors';
export type { Logger } from './logger';
export { log } from './logger';
export { captureNativeStderr } from './native-stderr';
export { RunProgress } from './run-progress';
