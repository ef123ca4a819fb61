export type { DataServer } from './data-server';
export { startDataServer } from './data-server';
export type { TcpTransport, TcpTransportOptions } from './tcp-transport';
