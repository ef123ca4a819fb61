export { byDeadline } from './deadline';
export { Inbox } from './inbox';
export { Mailboxes, MailboxRefused, type RefusalKind } from './mailboxes';
export { MemoryHub, MemoryTransport } from './memory-transport';
export { pairAllreduce } from './pair-allreduce';
export type { AllreduceOptions } from './ring-allreduce';
export { ringAllreduce, segments } from './ring-allreduce';
export type { Chunk, SendChannel, Transport, TransportStats } from './transport';
export { CollectiveError } from './transport';
