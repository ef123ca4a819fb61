export type { CoordinatorHandlers, CoordinatorServer, ServeCoordinator, SessionStream } from './handlers';
export type { RunCoordinatorOptions } from './run-coordinator';
export { runCoordinator } from './run-coordinator';
export { encodeRankEpoch } from './session-codec';
