export type { DataServer } from './data-server';
export { startDataServer } from './data-server';
export { sharedMemoryUnavailable } from './shared-segment';
export type { TcpTransport, TcpTransportOptions } from './tcp-transport';
export { SHARED_MEMORY_BYTES } from './tcp-transport';
