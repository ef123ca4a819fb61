export type {
  Caller,
  CoordinatorClient,
  CoordinatorHandlers,
  CoordinatorServer,
  ServeCoordinator,
  ServeSecurity,
  SessionClientStream,
  SessionStream,
} from './handlers';
export { runCoordinator } from './run-coordinator';
export { encodeRankEpoch } from './session-codec';
