/** The run report (DESIGN §5): what ran, and per-epoch and final metrics. */
export interface EpochRecord {
  epoch: number;
  seconds: number;
  samplesPerSec: number;
  trainLoss: number;
  valLoss: number;
  valAccuracy: number;
  cacheHits: number;
  cacheMisses: number;
  trainableLayers: number;
  boundary: string;
  /** seconds spent running the frozen prefix */
  prefixSeconds: number;
}

export interface RunReport {
  backend: string;
  workers: number;
  model: {
    name: string;
    source: string;
    head: string | undefined;
    boundary: string;
    boundaryShape: number[];
    params: number;
    trainableParams: number;
    inputSize: number;
  };
  data: { dataset: string; datasetId: string; trainSamples: number; valSamples: number; numClasses: number };
  train: Record<string, unknown>;
  epochs: EpochRecord[];
  final: {
    valLoss: number;
    valAccuracy: number;
    trainLoss: number;
    seconds: number;
    samplesPerSec: number;
    peakRssBytes: number;
    checkpoint: string | undefined;
  };
  startedAt: string;
  finishedAt: string;
}
