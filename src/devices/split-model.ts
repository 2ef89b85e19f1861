// AlexNet split over simulated GPUs, the way Krizhevsky ran it on two GTX 580s:
// each device a long-lived worker thread holding its half of every layer's
// weights. Where a layer needs the other half, the devices send each other the
// pieces directly (a MessageChannel per pair, set up here); the host only hands
// each device the image and its script, gets the logits back, and counts every
// byte that moved.
import { performance } from 'node:perf_hooks';
import { MessageChannel } from 'node:worker_threads';
import * as Comlink from 'comlink';
import { errors } from '../errors.js';
import { wasmKernelsAvailable } from '../kernels/plan/index.js';
import type { AlexNet } from '../models/alexnet.js';
import { checkTensor, type Tensor } from '../tensor/tensor.js';
import { gather, rangeBytes, type Activation } from './channel-range.js';
import { Device } from './device.js';
import { PREPARED_SHAPES, type PassResult } from './device-state.js';
import { largestPieces, passScripts, type PassScript } from './pass-script.js';
import { mailboxBytes, type PeerPorts } from './peer-links.js';
import type { MeasuredTimeline } from '../split/trace.js';
import { graphOfModule } from '../split/from-modules.js';
import type { ModelGraph } from '../split/graph.js';
import { planSplit } from '../split/plan-split.js';
import type { SplitPlan } from '../split/plan-types.js';
import { devicePieces, layerCosts, layerShapes, splitLayers } from './from-plan.js';
import { type DeviceLayerCost, type DeviceMemory, type DevicePiece, type LayerShapes, type LayerSpec } from './split-plan.js';

/** A GTX 580's memory. */
export const GTX580_BYTES = 3 * 2 ** 30;
export const GIB = 2 ** 30;

export interface SplitOptions {
  /** Number of devices (worker threads). Default 2. */
  devices?: number;
  /** Batch size the memory budget is checked for at load. Default 1. */
  batch?: number;
  /** Input side, height = width. Default: the smallest the model takes (227 for the paper's AlexNet). */
  inputSize?: number;
  /** Memory of each device in bytes. Default 3 GiB, a GTX 580's. */
  budgetBytes?: number;
  /** Simulated link bandwidth between devices in gigabits per second; each transfer waits bytes / bandwidth. Default: no delay. */
  linkGbps?: number;
  /** Simulated latency of each transfer in microseconds, waited before the device runs the layer. Default 0. */
  linkLatencyUs?: number;
}

export interface DeviceLayerRun extends DeviceLayerCost {
  computeMs: number;
  /** Time assembling the input from the own share and received pieces. */
  assembleMs: number;
  /** Simulated time on the link for the received bytes (0 without --link-gbps). */
  linkMs: number;
}

export interface LayerRun {
  name: string;
  label: string;
  /** The convolution kernel every device ran (KernelPlan.kind), null for other layers. */
  kernel: string | null;
  /**
   * Wall-clock time of the layer on the host: the wall time of the run of layers it was
   * part of (exchange, link delay and the slowest device), shared out by the time its
   * slowest device spent on each layer.
   */
  wallMs: number;
  devices: DeviceLayerRun[];
}

export interface SplitRun {
  devices: number;
  inputShape: number[];
  wallMs: number;
  layers: LayerRun[];
  /** Bytes the host sent (the image, to every device) and received (the logits). */
  hostInBytes: number;
  hostOutBytes: number;
  /** Bytes received across devices, summed over layers, per device. */
  exchangedBytes: number[];
  /** What each device needs at its busiest moment, as budgeted (deviceMemory). */
  memory: DeviceMemory[];
  /**
   * The most each device's own memory has held so far, measured by its
   * allocator: resident weights, kernel tap tables, activations and scratch.
   */
  memoryPeakBytes: number[];
  /** Kernels the convolutions ran with (KernelPlan.kind). */
  kernels: string[];
  /** The pass as the host and each device stamped it, in absolute ms: compute, sends and receives per device. */
  timeline: MeasuredTimeline;
}

/** The smallest square input an AlexNet with this pooled size takes (227 for pooled = 6). */
export function alexNetInputSize(pooled: number): number {
  const pool = (out: number) => 2 * out + 1; // MaxPool2d(3, 2) inverted
  return 4 * (pool(pool(pool(pooled))) - 1) + 11; // conv1: 11x11, stride 4
}

export function formatBytes(bytes: number): string {
  if (bytes >= 2 ** 30) return `${(bytes / 2 ** 30).toFixed(2)} GiB`;
  if (bytes >= 2 ** 20) return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
  if (bytes >= 2 ** 10) return `${(bytes / 2 ** 10).toFixed(1)} KiB`;
  return `${bytes} B`;
}

function checkBudget(memory: DeviceMemory[], budgetBytes: number, what: string): void {
  if (memory.every((m) => m.totalBytes <= budgetBytes)) return;
  const needs = memory
    .map(
      (m) =>
        `device ${m.device} needs ${formatBytes(m.totalBytes)} (${formatBytes(m.weightBytes)} weights` +
        `${m.transformedWeightBytes ? ` + ${formatBytes(m.transformedWeightBytes)} Winograd weights` : ''} + ${formatBytes(m.activationBytes)} activations` +
        `${m.scratchBytes ? ` + ${formatBytes(m.scratchBytes)} kernel scratch` : ''} at ${m.peakLayer})`,
    )
    .join('; ');
  const n = memory.length;
  throw errors.deviceMemory(
    `${what} does not fit ${n} device${n > 1 ? 's' : ''} of ${formatBytes(budgetBytes)}: ${needs}; each has ${formatBytes(budgetBytes)}`,
    memory.map((m) => m.totalBytes),
    budgetBytes,
  );
}

/** The channels plan of the model for a whole input shape [N, C, H, W]. */
function planFor(graph: ModelGraph, devices: number, inputShape: readonly number[]): SplitPlan {
  return planSplit(graph, { devices, batch: inputShape[0], inputShape: inputShape.slice(1), strategy: 'channels' });
}

/**
 * `data` in a SharedArrayBuffer, so a message carries it without a copy: itself
 * when it already is one, else copied into `staging` when that has the same
 * length (the buffer an earlier pass sent: its devices copied it into their
 * memory before that pass ended), else into a new one. A fresh 4.7 MB buffer
 * per pass cost 16-20 ms here, nearly all of it first touching its pages,
 * against 0.3 ms for a copy into pages already touched; the devices wait for
 * it, so it was serial time on every pass.
 */
function sharedInput(data: Float32Array, staging: { buffer: Float32Array | null }): Float32Array {
  if (data.buffer instanceof SharedArrayBuffer) return data;
  if (staging.buffer?.length !== data.length) staging.buffer = new Float32Array(new SharedArrayBuffer(data.byteLength));
  staging.buffer.set(data);
  return staging.buffer;
}

/**
 * Gives each pair of devices a MessageChannel, one end to each, and a mailbox
 * each way, so they exchange pieces without the host; and each device its
 * status word and the link model.
 */
async function connect(devices: Device[], status: Int32Array[], link: { gbps: number; latencyUs: number }, largest: number[][]): Promise<void> {
  const peers: PeerPorts[][] = devices.map(() => []);
  // The mailbox d receives e's pieces in, sized for the largest at the batch given at load.
  const mailboxes = largest.map((row) => row.map((floats) => new SharedArrayBuffer(mailboxBytes(floats))));
  for (let d = 0; d < devices.length; d++) {
    for (let e = d + 1; e < devices.length; e++) {
      const { port1, port2 } = new MessageChannel();
      peers[d].push({ device: e, port: port1, inbox: mailboxes[e][d], outbox: mailboxes[d][e] });
      peers[e].push({ device: d, port: port2, inbox: mailboxes[d][e], outbox: mailboxes[e][d] });
    }
  }
  await Promise.all(
    devices.map((device, d) =>
      device.call((api) =>
        api.connect(
          Comlink.transfer(
            { device: d, peers: peers[d], status: status[d], link },
            peers[d].map((p) => p.port as never),
          ),
        ),
      ),
    ),
  );
}

/** The planner's figures for passes on one input shape. */
interface PassPlan {
  shapes: LayerShapes[];
  memory: DeviceMemory[];
  costs: DeviceLayerCost[][];
}

export class SplitAlexNet {
  readonly layers: LayerSpec[];
  readonly deviceCount: number;
  readonly budgetBytes: number;
  readonly linkGbps: number;
  readonly linkLatencyUs: number;
  /** Memory each device needs for the batch and input size given at load. */
  readonly memory: DeviceMemory[];
  /** Each device's pieces; the weight buffers now live in the devices (only shapes and counts remain here). */
  readonly pieces: DevicePiece[][];
  /** What each device does in a pass: its runs of layers, what it waits for before each and sends after. */
  private readonly scripts: PassScript[];
  /** The layer each device is at (an Int32Array over shared memory it writes): names the layer of a device that died. */
  private readonly status: Int32Array[];
  /** Each device's kernels per input shape it has plans for (the devices keep the same PREPARED_SHAPES, first in first out). */
  private readonly kinds = new Map<string, (string | null)[][]>();
  /** The planner's figures per input shape passes have run on (as many shapes as the devices keep plans for). */
  private readonly passPlans = new Map<string, PassPlan>();
  private passes = 0;
  /** The shared buffer a pass's image goes to the devices in (when the caller's is not shared), reused while the size stays. */
  private readonly imageStaging: { buffer: Float32Array | null } = { buffer: null };
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;
  lastRun: SplitRun | null = null;

  private constructor(
    private readonly model: AlexNet,
    private readonly graph: ModelGraph,
    private readonly devices: Device[],
    status: Int32Array[],
    layers: LayerSpec[],
    pieces: DevicePiece[][],
    options: Required<SplitOptions>,
    memory: DeviceMemory[],
  ) {
    this.layers = layers;
    this.pieces = pieces;
    this.deviceCount = devices.length;
    this.budgetBytes = options.budgetBytes;
    this.linkGbps = options.linkGbps;
    this.linkLatencyUs = options.linkLatencyUs;
    this.memory = memory;
    this.scripts = passScripts(pieces);
    this.status = status;
  }

  /**
   * Splits the model's weights over `devices` worker threads. Refuses, before
   * starting any thread, a model whose share does not fit a device's budget
   * for the given batch.
   */
  static async create(model: AlexNet, options: SplitOptions = {}): Promise<SplitAlexNet> {
    const resolved: Required<SplitOptions> = {
      devices: options.devices ?? 2,
      batch: options.batch ?? 1,
      inputSize: options.inputSize ?? alexNetInputSize(model.config.pooled),
      budgetBytes: options.budgetBytes ?? GTX580_BYTES,
      linkGbps: options.linkGbps ?? Infinity,
      linkLatencyUs: options.linkLatencyUs ?? 0,
    };
    const { devices, batch, inputSize, budgetBytes, linkGbps, linkLatencyUs } = resolved;
    if (!Number.isInteger(devices) || devices <= 0) throw errors.notPositiveInteger('devices', devices);
    if (!Number.isInteger(batch) || batch <= 0) throw errors.notPositiveInteger('batch', batch);
    if (!Number.isInteger(inputSize) || inputSize <= 0) throw errors.notPositiveInteger('inputSize', inputSize);
    if (!(budgetBytes > 0)) throw errors.invalid('budgetBytes', `must be a positive number of bytes, got ${budgetBytes}`);
    if (!(linkGbps > 0)) throw errors.invalid('linkGbps', `must be a positive number of gigabits per second, got ${linkGbps}`);
    if (!(linkLatencyUs >= 0)) throw errors.invalid('linkLatencyUs', `must be a non-negative number of microseconds, got ${linkLatencyUs}`);

    // Which device computes what, and what it needs, is the split planner's channels plan.
    const graph = graphOfModule(model);
    const layers = splitLayers(graph);
    const plan = planFor(graph, devices, [batch, 3, inputSize, inputSize]);
    const pieces = devicePieces(model, layers, plan);
    const memory = plan.memory;
    checkBudget(memory, budgetBytes, `AlexNet at batch ${batch} (${inputSize}x${inputSize})`);

    const started: Device[] = [];
    const status = Array.from({ length: devices }, () => new Int32Array(new SharedArrayBuffer(4)));
    // The devices compute with the kernels this thread would, so their logits match the model's here bit for bit.
    const kernels = wasmKernelsAvailable() ? 'wasm' : 'reference';
    try {
      for (let d = 0; d < devices; d++) started.push(new Device(d));
      await Promise.all(
        started.map((device, d) => {
          const buffers = pieces[d].flatMap((p) => [p.weight?.data.buffer, p.bias?.data.buffer]).filter((b): b is ArrayBuffer => !!b);
          return device.call((api) => api.load(Comlink.transfer(pieces[d], buffers), { kernels }));
        }),
      );
      const largest = largestPieces(pieces, layerShapes(graph, [batch, 3, inputSize, inputSize]));
      await connect(started, status, { gbps: linkGbps, latencyUs: linkLatencyUs }, largest);
    } catch (error) {
      await Promise.all(started.map((device) => device.close()));
      throw error;
    }
    return new SplitAlexNet(model, graph, started, status, layers, pieces, resolved, memory);
  }

  /** Per layer, per device: parameters, weight bytes, bytes received and working set, for an input shape. */
  costs(inputShape: number[]): DeviceLayerCost[][] {
    return layerCosts(planFor(this.graph, this.deviceCount, inputShape));
  }

  /** Memory each device needs for an input shape. */
  memoryFor(inputShape: number[]): DeviceMemory[] {
    return planFor(this.graph, this.deviceCount, inputShape).memory;
  }

  /** Logits [N, classes] for x [N, 3, H, W]; the run's timings and traffic are in `lastRun`. */
  forward(x: Tensor): Promise<Tensor> {
    const run = this.queue.then(() => this.forwardNow(x));
    this.queue = run.catch(() => {});
    return run;
  }

  /**
   * What a pass on input shape `key` needs from the planner: each layer's
   * shapes, the devices' memory (checked against the budget) and per layer
   * costs. Worked out on the first pass of a shape and kept (as the devices keep
   * their kernel plans): planning AlexNet again cost 4-7 ms of the host's time
   * per pass. `x` must have passed checkTensor.
   */
  private passPlan(key: string, x: Tensor): PassPlan {
    const known = this.passPlans.get(key);
    if (known) return known;
    const shapes = this.checkInput(x);
    const plan = planFor(this.graph, this.deviceCount, x.shape);
    checkBudget(plan.memory, this.budgetBytes, `AlexNet at batch ${x.shape[0]} (${x.shape[2]}x${x.shape[3]})`);
    const entry = { shapes, memory: plan.memory, costs: layerCosts(plan) };
    if (this.passPlans.size >= PREPARED_SHAPES) this.passPlans.delete(this.passPlans.keys().next().value!);
    this.passPlans.set(key, entry);
    return entry;
  }

  private checkInput(x: Tensor): LayerShapes[] {
    if (x.shape[1] !== 3) throw errors.invalid('x.shape', `AlexNet takes 3 input channels, got shape [${x.shape}]`);
    // The features first, to say what is wrong in AlexNet's terms: the map entering the classifier.
    const flatIndex = this.layers.findIndex((l) => l.op.kind === 'flatten');
    const flat = layerShapes({ ...this.graph, nodes: this.graph.nodes.slice(0, flatIndex + 1) }, x.shape)[flatIndex];
    const fc6Inputs = (this.model.classifier.layers[1] as unknown as { weight: Tensor }).weight.shape[1];
    if (flat.output[1] !== fc6Inputs) {
      const p = this.model.config.pooled;
      throw errors.invalid('x.shape', `input ${x.shape[2]}x${x.shape[3]} gives ${flat.input[2]}x${flat.input[3]} maps before fc6, which expects ${p}x${p}`);
    }
    return layerShapes(this.graph, x.shape);
  }

  private async forwardNow(x: Tensor): Promise<Tensor> {
    if (this.closed) throw errors.splitClosed();
    checkTensor('x', x, [4]);
    const key = x.shape.join('x');
    const { shapes, memory, costs } = this.passPlan(key, x);
    const kinds = await this.prepare(key, shapes);
    const D = this.deviceCount;
    const pass = ++this.passes;
    for (const word of this.status) Atomics.store(word, 0, 0);
    const start = performance.now();

    // The image goes to every device through shared memory: each copies it into
    // its own memory (the bytes counted in hostInBytes), without the message
    // itself cloning 4.7 MB per device at batch 8 (about 35 ms each, measured).
    // Then each device goes through its whole pass alone, exchanging pieces
    // with its peers directly: one call per device per pass.
    const image: Activation = { shape: [...x.shape], data: sharedInput(x.data, this.imageStaging), start: 0 };
    const results = await this.settle(
      pass,
      this.devices.map((device, d) => device.call((api) => api.runPass({ pass, key, image, script: this.scripts[d] }))),
    );
    const classes = shapes[shapes.length - 1].output[1];
    const logits = gather(
      results.map((r) => r.logits),
      [0, classes],
    );
    const end = performance.now();
    const timeline: MeasuredTimeline = {
      startedAt: performance.timeOrigin + start,
      endedAt: performance.timeOrigin + end,
      devices: results.map((r) => r.events),
    };
    const layers = this.layerRuns(results, costs, kinds[0], timeline);
    this.lastRun = {
      devices: D,
      inputShape: [...x.shape],
      wallMs: end - start,
      layers,
      hostInBytes: x.data.byteLength * D,
      hostOutBytes: rangeBytes([0, classes], x.shape[0], 1),
      exchangedBytes: Array.from({ length: D }, (_, d) => layers.reduce((sum, l) => sum + l.devices[d].receivedBytes, 0)),
      memory: memory.map((m) => ({ ...m })), // each run its own, though the plan is kept
      memoryPeakBytes: results.map((r) => r.peakBytes),
      kernels: [...new Set(kinds.flat().filter((k): k is string => k !== null))],
      timeline,
    };
    return { shape: logits.shape, data: logits.data };
  }

  /**
   * Each device plans its convolutions for this input shape, once (the plans are
   * kept for later calls), before a pass's clock starts. Returns each device's kernels.
   */
  private async prepare(key: string, shapes: LayerShapes[]): Promise<(string | null)[][]> {
    const known = this.kinds.get(key);
    if (known) return known;
    const kinds = await Promise.all(this.devices.map((device) => device.call((api) => api.prepare(key, shapes))));
    if (this.kinds.size >= PREPARED_SHAPES) this.kinds.delete(this.kinds.keys().next().value!);
    this.kinds.set(key, kinds);
    return kinds;
  }

  /**
   * The devices' pass results, once every device is done. A device that throws
   * or dies fails the pass, named with the layer its status word shows; its
   * peers are told to abort, so none waits for a piece that will not come, and
   * the pass rejects only once all have stopped.
   */
  private async settle(pass: number, calls: Promise<PassResult>[]): Promise<PassResult[]> {
    let failure: { device: number; layer: number; error: unknown } | null = null;
    const results = await Promise.all(
      calls.map((call, d) =>
        call.catch((error: unknown) => {
          if (failure) return null; // a peer stopped by the abort, or a second failure: the first one is the pass's
          failure = { device: d, layer: Atomics.load(this.status[d], 0), error };
          this.devices.forEach((peer, e) => {
            if (e !== d) peer.call((api) => api.abortPass(pass)).catch(() => {});
          });
          return null;
        }),
      ),
    );
    if (failure) {
      const { device, layer, error } = failure;
      const spec = this.layers[layer] ?? this.layers[0];
      throw errors.devicePassFailed(device, `${spec.label} (${spec.name})`, error);
    }
    return results as PassResult[];
  }

  /**
   * Each layer's timings per device, and its wall time: from when the last
   * device finished the layer before (the pass's start for the first) to when
   * the last device finished this one (the pass's end for the last layer).
   */
  private layerRuns(results: PassResult[], costs: DeviceLayerCost[][], kinds: (string | null)[], timeline: MeasuredTimeline): LayerRun[] {
    const finished = this.layers.map((_, layer) =>
      Math.max(...timeline.devices.map((events) => Math.max(...events.filter((e) => e.kind === 'compute' && e.layer === layer).map((e) => e.end)))),
    );
    finished[finished.length - 1] = timeline.endedAt;
    return this.layers.map((spec, layer) => ({
      name: spec.name,
      label: spec.label,
      kernel: kinds[layer],
      wallMs: finished[layer] - (layer === 0 ? timeline.startedAt : finished[layer - 1]),
      devices: results.map((r, d) => ({ ...costs[layer][d], ...r.timings[layer] })),
    }));
  }

  /** Stops the device threads; their memory (weights, plans, activations) goes with them. Safe to call twice. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.queue;
    await Promise.all(this.devices.map((device) => device.close()));
  }
}
