export type { DataServer } from './data-server';
export { startDataServer } from './data-server';
export { sharedMemoryUnavailable } from './shared-segment';
export type { TcpTransport } from './tcp-transport';
