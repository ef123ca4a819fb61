export type { CoordinatorClientSecurity } from './coordinator-client';
export { createCoordinatorClient } from './coordinator-client';
export { startCoordinatorServer } from './coordinator-server';
// grpc-js as Permafrost configures it (message sizes, keepalive, HTTP/2 windows), for tools and
// benchmarks that measure raw gRPC next to the transports above
export { bindServer as bindGrpcServer, newServer as newGrpcServer, PEER_CHANNEL_OPTIONS as GRPC_PEER_CHANNEL_OPTIONS } from './grpc-setup';
export type { PeerServer } from './peer-server';
export { startPeerServer } from './peer-server';
