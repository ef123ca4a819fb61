export { RingReducer } from './ring-reducer';
export { runWorker } from './worker';
