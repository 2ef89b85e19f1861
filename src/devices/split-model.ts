// AlexNet split over simulated GPUs, the way Krizhevsky ran it on two GTX 580s:
// each device a long-lived worker thread holding its half of every layer's
// weights; the host moves activations between devices only where a layer
// needs the other half, and counts every byte it moves.
import { performance } from 'node:perf_hooks';
import * as Comlink from 'comlink';
import { errors } from '../errors.js';
import { wasmKernelsAvailable } from '../kernels/plan/index.js';
import type { AlexNet } from '../models/alexnet.js';
import { checkTensor, type Tensor } from '../tensor/tensor.js';
import { gather, rangeBytes, type Activation } from './channel-range.js';
import { Device } from './device.js';
import { graphOfModule } from '../split/from-modules.js';
import type { ModelGraph } from '../split/graph.js';
import { planSplit } from '../split/plan-split.js';
import type { SplitPlan } from '../split/plan-types.js';
import { devicePieces, layerCosts, layerShapes, splitLayers } from './from-plan.js';
import { transfersInto, type DeviceLayerCost, type DeviceMemory, type DevicePiece, type LayerShapes, type LayerSpec } from './split-plan.js';

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
 * The layers cut into runs a device can go through without the host: a new
 * run starts at every layer some device must receive pieces for (never
 * with one device, which needs nothing from another).
 */
export function layerRuns(pieces: readonly DevicePiece[][], layerCount: number): [number, number][] {
  const starts = [0];
  for (let layer = 1; layer < layerCount; layer++) if (transfersInto(pieces, layer).some((list) => list.length > 0)) starts.push(layer);
  return starts.map((from, i) => [from, (starts[i + 1] ?? layerCount) - 1]);
}

/** `data` in a SharedArrayBuffer (itself when it already is one), so a message carries it without a copy. */
function sharedCopy(data: Float32Array): Float32Array {
  if (data.buffer instanceof SharedArrayBuffer) return data;
  const shared = new Float32Array(new SharedArrayBuffer(data.byteLength));
  shared.set(data);
  return shared;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

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
  /** Runs of consecutive layers [from, to] a device runs in one call: each starts at layer 0 or at a layer that needs another device's pieces. */
  private readonly runs: [number, number][];
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;
  lastRun: SplitRun | null = null;

  private constructor(
    private readonly model: AlexNet,
    private readonly graph: ModelGraph,
    private readonly devices: Device[],
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
    this.runs = layerRuns(pieces, layers.length);
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
    } catch (error) {
      await Promise.all(started.map((device) => device.close()));
      throw error;
    }
    return new SplitAlexNet(model, graph, started, layers, pieces, resolved, memory);
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

  private checkInput(x: Tensor): LayerShapes[] {
    checkTensor('x', x, [4]);
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
    const shapes = this.checkInput(x);
    const plan = planFor(this.graph, this.deviceCount, x.shape);
    const memory = plan.memory;
    checkBudget(memory, this.budgetBytes, `AlexNet at batch ${x.shape[0]} (${x.shape[2]}x${x.shape[3]})`);
    const key = x.shape.join('x');
    // Each device plans its convolutions for this shape (once; kept for later calls) before the clock starts.
    const kinds = await Promise.all(this.devices.map((device) => device.call((api) => api.prepare(key, shapes))));
    const costs = layerCosts(plan);
    const D = this.deviceCount;
    const start = performance.now();

    // The image goes to every device through shared memory: each copies it into
    // its own memory (the bytes counted in hostInBytes), without the message
    // itself cloning 4.7 MB per device at batch 8 (about 35 ms each, measured).
    const image: Activation = { shape: [...x.shape], data: sharedCopy(x.data), start: 0 };
    await Promise.all(this.devices.map((device) => device.call((api) => api.setInput(image))));
    const layers: LayerRun[] = [];
    const last = this.pieces.map((p) => p[p.length - 1].produces);
    // One round trip per device per run of layers: a run starts where a layer
    // needs pieces from another device, and the device runs the rest of it
    // without waiting for the host. Each run's call also returns what the
    // other devices need for the next run (the logits after the last), so no
    // separate read calls: the host only passes those pieces on.
    let received: Activation[][] = this.devices.map(() => []);
    let outputs: Activation[] = [];
    for (let k = 0; k < this.runs.length; k++) {
      const [from, to] = this.runs[k];
      const t0 = performance.now();
      const transfers = transfersInto(this.pieces, from);
      const next = k + 1 < this.runs.length ? transfersInto(this.pieces, this.runs[k + 1][0]) : null;
      // What each device sends after this run, in the order the receivers take them (receiver, then its list).
      const sends = this.devices.map((_, d) => (next ? next.flatMap((list) => list.filter((t) => t.from === d).map((t) => t.range)) : [last[d]]));
      const named = (layer: number) => `${this.layers[layer].label} (${this.layers[layer].name})`;
      // A device that throws or dies fails the pass, naming itself and the layer it was at:
      // the one it reports, or the run's first if it cannot answer (it died).
      const at = <T>(d: number, work: Promise<T>): Promise<T> =>
        work.catch(async (error: unknown) => {
          const layer = await this.devices[d].call((api) => api.lastLayer()).catch(() => from);
          return Promise.reject(errors.devicePassFailed(d, named(layer >= from && layer <= to ? layer : from), error));
        });
      const inputs = received;
      const results = await Promise.all(
        this.devices.map(async (device, d) => {
          // The link model: each transfer waits its latency, and its bytes over the bandwidth.
          const bandwidthMs = Number.isFinite(this.linkGbps) ? ((costs[from][d].receivedBytes * 8) / (this.linkGbps * 1e9)) * 1000 : 0;
          const linkMs = bandwidthMs + (transfers[d].length * this.linkLatencyUs) / 1000;
          if (linkMs > 0) await sleep(linkMs);
          const pieces = inputs[d];
          const result = await at(d, device.call((api) => api.runLayers(from, to, Comlink.transfer(pieces, pieces.map((p) => p.data.buffer)), key, sends[d])));
          // Only the run's first layer receives anything, so only it waits on the link.
          return { timings: result.timings.map((timing, i) => ({ ...costs[from + i][d], ...timing, linkMs: i === 0 ? linkMs : 0 })), pieces: result.pieces };
        }),
      );
      if (next) {
        const cursor = this.devices.map(() => 0);
        received = next.map((list) => list.map((t) => results[t.from].pieces[cursor[t.from]++]));
      } else outputs = results.map((r) => r.pieces[0]);
      // The host sees only the run's wall time: each layer gets the share its slowest device spent on it.
      const timings = results.map((r) => r.timings);
      const runWallMs = performance.now() - t0;
      const spent = Array.from({ length: to - from + 1 }, (_, i) => Math.max(...timings.map((t) => t[i].computeMs + t[i].assembleMs + t[i].linkMs)));
      const total = spent.reduce((a, b) => a + b, 0);
      for (let i = 0; i <= to - from; i++) {
        const spec = this.layers[from + i];
        const wallMs = total > 0 ? (runWallMs * spent[i]) / total : runWallMs / spent.length;
        layers.push({ name: spec.name, label: spec.label, kernel: kinds[0][from + i], wallMs, devices: timings.map((t) => t[i]) });
      }
    }
    const classes = shapes[shapes.length - 1].output[1];
    const logits = gather(outputs, [0, classes]);
    const wallMs = performance.now() - start;
    const stats = await Promise.all(this.devices.map((device) => device.call((api) => api.stats())));
    this.lastRun = {
      devices: D,
      inputShape: [...x.shape],
      wallMs,
      layers,
      hostInBytes: x.data.byteLength * D,
      hostOutBytes: rangeBytes([0, classes], x.shape[0], 1),
      exchangedBytes: Array.from({ length: D }, (_, d) => layers.reduce((sum, l) => sum + l.devices[d].receivedBytes, 0)),
      memory,
      memoryPeakBytes: stats.map((s) => s.memory.peakBytes),
      kernels: [...new Set(kinds.flat().filter((k): k is string => k !== null))],
    };
    return { shape: logits.shape, data: logits.data };
  }

  /** Stops the device threads; their memory (weights, plans, activations) goes with them. Safe to call twice. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.queue;
    await Promise.all(this.devices.map((device) => device.close()));
  }
}
