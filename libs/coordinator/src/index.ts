export type { CoordinatorEventMap, JobState, MembershipChange } from './coordinator-events';
export { CoordinatorEvents } from './coordinator-events';
export type {
  Caller,
  CoordinatorClient,
  CoordinatorHandlers,
  CoordinatorServer,
  ServeCoordinator,
  ServeSecurity,
  SessionClientStream,
  SessionStream,
  WatchClientStream,
  WatchStream,
} from './handlers';
export { runCoordinator } from './run-coordinator';
export { encodeRankEpoch } from './session-codec';
