// What a split plan says: per layer and device, what the device computes,
// which weights it holds and what it receives from the others (by collective);
// per device, its memory against the budget; and the simulated time.
import type { OpKind } from './graph.js';
import type { Range } from './ranges.js';

export type Strategy = 'channels' | 'pipeline' | 'data';

/**
 * How a layer's inputs reach the devices that compute it: nothing moves;
 * every device gathers channels others computed (a layer reading every
 * channel); a channel shuffle's all-to-all; a pipeline stage's send/receive;
 * an LRN window's halo of neighbouring channels; or a value brought into
 * another partition (realign): a residual add's second operand into the
 * first's, or an input held too unevenly into the even split.
 */
export type Collective = 'none' | 'all-gather' | 'all-to-all' | 'send-receive' | 'halo' | 'realign';

/** The link between two devices: each transfer costs latency plus bytes over bandwidth. */
export interface LinkModel {
  /** Gigabits per second. */
  gbps: number;
  /** Microseconds per transfer. */
  latencyUs: number;
}

/** Something one device receives from another for one layer: channel (feature) ranges of a value, for the images it computes. */
export interface Transfer {
  from: number;
  /** The value (a node's output, or the model's input). */
  value: string;
  ranges: Range[];
  bytes: number;
}

export interface DeviceLayerPlan {
  /** Images [start, end) of the batch the device computes this layer for. */
  images: Range;
  /**
   * Output channels (features) it computes and keeps, when they are one run;
   * null when it computes none of them (the layer is on another device in a
   * pipeline, or it holds none of a Slice's channels) or several runs.
   */
  outputs: Range | null;
  /** Every run of output channels it computes and keeps: a Concat keeps its inputs where they are, so a device can hold several. */
  outputRuns: Range[];
  /** Per input value, the channels the device reads. */
  needs: Range[][];
  /** Groups its rows of a convolution span (1 when it holds part of one group). */
  groups?: number;
  /** Learnable values it holds for this layer (its rows of the weight and bias). */
  parameters: number;
  /** Bytes of everything resident for the layer: parameters and buffers (BatchNorm's running statistics). */
  weightBytes: number;
  /** What the kernel's packed form adds beyond the weights (Winograd's transformed weights). */
  transformedWeightBytes: number;
  received: Transfer[];
  receivedBytes: number;
  /** Input read (own and received) plus output written, for the images it computes at once. */
  activationBytes: number;
  /** Other values the device keeps alive across this layer (a residual's skip operand). */
  liveBytes: number;
  /** The convolution kernel's scratch. */
  scratchBytes: number;
  /** Own share plus the assembled input, while received pieces are stitched in (0 when it holds exactly what it reads). */
  assembleBytes: number;
  flops: number;
  /** Simulated: compute at the device's rate, and receiving at the link's. */
  computeMs: number;
  transferMs: number;
}

export interface LayerPlan {
  name: string;
  label: string;
  op: OpKind;
  /** For convolutions, the layer's groups. */
  groups?: number;
  inputShapes: number[][];
  outputShape: number[];
  collective: Collective;
  /** Why the layer moves data it would not otherwise: its input realigned to the even split, being too unbalanced for it. */
  reason?: string;
  devices: DeviceLayerPlan[];
}

export interface DeviceMemory {
  device: number;
  weightBytes: number;
  transformedWeightBytes: number;
  /** Activations held at the busiest moment. */
  activationBytes: number;
  scratchBytes: number;
  totalBytes: number;
  /** Label of the busiest layer. */
  peakLayer: string;
  fits: boolean;
}

export interface PipelinePlan {
  /** Per device, its layers [first, end) in execution order. */
  stages: Range[];
  microBatches: number;
  /** Share of device time idle while the pipeline fills and drains. */
  bubble: number;
}

export interface SplitPlan {
  model: string;
  strategy: Strategy;
  devices: number;
  batch: number;
  inputShape: number[];
  link: LinkModel;
  /** Assumed compute rate of one device (simulated time). */
  deviceGflops: number;
  budgetBytes: number;
  layers: LayerPlan[];
  memory: DeviceMemory[];
  fits: boolean;
  pipeline?: PipelinePlan;
  simulated: {
    ms: number;
    computeMs: number;
    transferMs: number;
    /** One device, the whole batch, nothing moving. */
    oneDeviceMs: number;
    speedup: number;
  };
  /** Why this strategy (auto), or what it assumes. */
  reason: string;
}
