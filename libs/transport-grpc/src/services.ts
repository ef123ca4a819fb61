/**
 * The two services as grpc-js definitions, written by hand from proto/permafrost/v1 so that no
 * second code generator (or proto-loader at run time) is needed: protobuf-es does the encoding,
 * grpc-js only moves bytes. The paths are the ones protoc would derive, so any other gRPC
 * implementation of the .proto files interoperates.
 */
import { fromBinary, type Message, toBinary } from '@bufbuild/protobuf';
import type { GenMessage } from '@bufbuild/protobuf/codegenv2';
import type { MethodDefinition, ServiceDefinition } from '@grpc/grpc-js';
import {
  type ExchangeRequest,
  ExchangeRequestSchema,
  type ExchangeResponse,
  ExchangeResponseSchema,
  type JoinRequest,
  JoinRequestSchema,
  type JoinResponse,
  JoinResponseSchema,
  type LeaveRequest,
  LeaveRequestSchema,
  type LeaveResponse,
  LeaveResponseSchema,
  type SessionRequest,
  SessionRequestSchema,
  type SessionResponse,
  SessionResponseSchema,
  type StatusRequest,
  StatusRequestSchema,
  type StatusResponse,
  StatusResponseSchema,
  type WatchRequest,
  WatchRequestSchema,
  type WatchResponse,
  WatchResponseSchema,
} from '@permafrost/proto';
import { serializeExchange } from './chunk-codec';

// Buffer.from(arrayBuffer, offset, length) is a view: the encoded message is not copied again.
const encode =
  <T extends Message>(schema: GenMessage<T>) =>
  (m: T): Buffer => {
    const bytes = toBinary(schema, m);
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  };
const decode =
  <T extends Message>(schema: GenMessage<T>) =>
  (b: Buffer): T =>
    fromBinary(schema, b);

function method<Req extends Message, Res extends Message>(
  path: string,
  req: GenMessage<Req>,
  res: GenMessage<Res>,
  requestStream: boolean,
  responseStream: boolean,
): MethodDefinition<Req, Res> {
  return {
    path,
    requestStream,
    responseStream,
    requestSerialize: encode(req),
    requestDeserialize: decode(req),
    responseSerialize: encode(res),
    responseDeserialize: decode(res),
  };
}

const COORDINATOR = '/permafrost.v1.CoordinatorService';
const PEER = '/permafrost.v1.PeerService';

export const coordinatorService = {
  join: method<JoinRequest, JoinResponse>(`${COORDINATOR}/Join`, JoinRequestSchema, JoinResponseSchema, false, false),
  session: method<SessionRequest, SessionResponse>(`${COORDINATOR}/Session`, SessionRequestSchema, SessionResponseSchema, true, true),
  leave: method<LeaveRequest, LeaveResponse>(`${COORDINATOR}/Leave`, LeaveRequestSchema, LeaveResponseSchema, false, false),
  status: method<StatusRequest, StatusResponse>(`${COORDINATOR}/Status`, StatusRequestSchema, StatusResponseSchema, false, false),
  watch: method<WatchRequest, WatchResponse>(`${COORDINATOR}/Watch`, WatchRequestSchema, WatchResponseSchema, false, true),
} as const satisfies ServiceDefinition;

export const peerService = {
  // chunks carry MiBs of payload: they skip protobuf-es's growing buffer on the way out
  exchange: {
    ...method<ExchangeRequest, ExchangeResponse>(`${PEER}/Exchange`, ExchangeRequestSchema, ExchangeResponseSchema, true, false),
    requestSerialize: serializeExchange,
  },
} as const satisfies ServiceDefinition;
