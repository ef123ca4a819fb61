// For tests that speak the data-plane protocol at a worker's data port themselves (forged or
// mutated frames): the frame encoders, as a worker writes them.
export { encodeHello, encodeStop, payloadBytes } from './protocol';
