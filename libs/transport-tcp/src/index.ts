export type { ConnectionGuardOptions } from './connection-guard';
// also guards the gRPC servers (libs/transport-grpc), which share its limits
export { ConnectionGuard, DEFAULT_HANDSHAKE_TIMEOUT_MS, DEFAULT_MAX_PENDING_CONNECTIONS } from './connection-guard';
export type { DataServer, DataServerOptions } from './data-server';
export { startDataServer } from './data-server';
export { sharedMemoryUnavailable } from './shared-segment';
export type { TcpTransport } from './tcp-transport';
