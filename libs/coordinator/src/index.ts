export type {
  CoordinatorClient,
  CoordinatorHandlers,
  CoordinatorServer,
  ServeCoordinator,
  SessionClientStream,
  SessionStream,
} from './handlers';
export type { RunCoordinatorOptions } from './run-coordinator';
export { runCoordinator } from './run-coordinator';
export { encodeRankEpoch } from './session-codec';
