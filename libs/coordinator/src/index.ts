export type {
  CoordinatorClient,
  CoordinatorHandlers,
  CoordinatorServer,
  ServeCoordinator,
  SessionClientStream,
  SessionStream,
} from './handlers';
export { runCoordinator } from './run-coordinator';
export { encodeRankEpoch } from './session-codec';
