export { MemoryHub, MemoryTransport } from './memory-transport';
export type { AllreduceOptions } from './ring-allreduce';
export { ringAllreduce, segments } from './ring-allreduce';
export type { Chunk, SendChannel, Transport } from './transport';
export { CollectiveError } from './transport';
