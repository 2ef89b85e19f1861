// What a device running any model does in its thread: it builds the model
// from its source (model-source.ts) once and keeps it — the whole model, its
// weights in this thread's own memory — and runs ranges of the model's units
// (model-program.ts) on the images it is given.
//
// Data: the host calls run() with the device's share of the images, all units.
// Pipeline: connect() gives the device its stage (a range of units) and two
// ports; each message on `input` is a micro-batch's values live at the
// stage's start (from the host, or the previous device directly), and the
// values live at its end go out on `output` (to the next device, or the host)
// as soon as they are computed, so stages overlap across micro-batches. A
// failure travels down the same ports to the host, naming device and unit.
// workers/model-device-worker.ts exposes one of these over comlink.
import { readFileSync } from 'node:fs';
import type { MessagePort } from 'node:worker_threads';
import { getHeapStatistics } from 'node:v8';
import { performance } from 'node:perf_hooks';
import * as Comlink from 'comlink';
import { errors } from '../errors.js';
import { configureKernels } from '../kernels/options.js';
import { wasmKernelsAvailable } from '../kernels/plan/index.js';
import { sharedArena } from '../memory/arena.js';
import type { Tensor } from '../tensor/tensor.js';
import { graphOfModule } from '../split/from-modules.js';
import { onnxGraphSteps } from '../split/from-onnx.js';
import type { ModelGraph } from '../split/graph.js';
import { ChannelDeviceState, type ChannelBlock, type ChannelNodeCompute, type ChannelNodeSpec, type ChannelSegmentResult, type ChannelRequest } from './channel-device-state.js';
import { computeRuns } from './channel-node.js';
import { OnnxChannelNodes } from './onnx-channel-node.js';
import { nodeModule, type Program } from './model-program.js';
import { loadSource, programOf, weightBytesOf, type LoadedModel, type ModelSource } from './model-source.js';

/** A range of units and the values that cross its ends. */
export interface StageSpec {
  index: number;
  from: number;
  to: number;
  /** Values live at `from`: what the stage receives. */
  receive: string[];
  /** Values live at `to`: what it sends on. */
  send: string[];
}

/** What one device spent on one micro-batch (or its data share). */
export interface StageTiming {
  device: number;
  stage: number;
  /** Wall clock (performance.timeOrigin + now, comparable across threads) when it started and finished computing. */
  startMs: number;
  endMs: number;
  /** Milliseconds per unit of the stage, in order. */
  unitMs: number[];
  /** Bytes of values it received for this micro-batch. */
  receivedBytes: number;
}

/** A micro-batch on its way down the pipeline: the values live at the next stage, and every stage's timing so far. */
export type PipelineMessage =
  | { pass: number; micro: number; values: Record<string, Tensor>; timings: StageTiming[] }
  | { pass: number; micro: number; failure: { device: number; stage: number; unit: string; message: string } };

export interface ModelDeviceInfo {
  units: { label: string }[];
  /** Bytes of the model's weights this device holds. */
  weightBytes: number;
}

export interface ModelDeviceStats {
  weightBytes: number;
  /** This device thread's CPU time so far (ms, /proc/thread-self/schedstat: Linux; null elsewhere): unlike wall time, not stretched by other processes. */
  threadCpuMs: number | null;
  /** This thread's JavaScript heap (where the model's values live) and its own WebAssembly memory. */
  heapUsedBytes: number;
  arena: { liveBytes: number; peakBytes: number };
}

const now = () => performance.timeOrigin + performance.now();

/** The calling thread's CPU time in ms (Linux's per-thread schedstat), or null where there is none. */
function threadCpuMs(): number | null {
  try {
    return Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]) / 1e6;
  } catch {
    return null;
  }
}

/** Copies of values whose buffers may be shared or larger than them, so they can be transferred away whole. */
function sendable(values: ReadonlyMap<string, Tensor>): { values: Record<string, Tensor>; transfer: ArrayBuffer[] } {
  const out: Record<string, Tensor> = {};
  const transfer = new Set<ArrayBuffer>();
  const copies = new Map<Float32Array, Float32Array>();
  for (const [name, t] of values) {
    let data = copies.get(t.data);
    if (!data) {
      const own = t.data.buffer instanceof ArrayBuffer && t.data.byteOffset === 0 && t.data.byteLength === t.data.buffer.byteLength;
      data = own ? t.data : t.data.slice();
      copies.set(t.data, data);
      transfer.add(data.buffer as ArrayBuffer);
    }
    out[name] = { shape: [...t.shape], data };
  }
  return { values: out, transfer: [...transfer] };
}

const bytesOf = (values: Record<string, Tensor>) => {
  const seen = new Set<Float32Array>();
  let bytes = 0;
  for (const t of Object.values(values)) if (!seen.has(t.data)) (seen.add(t.data), (bytes += t.data.byteLength));
  return bytes;
};

export class ModelDeviceState {
  private loaded: LoadedModel | null = null;
  private program: Program | null = null;
  private device = -1;
  private weightBytes = 0;
  private currentUnit = -1;
  private ports: MessagePort[] = [];
  private channels: ChannelDeviceState | null = null;
  private image: number[] = [];
  private status: Int32Array | null = null;

  /** Builds the model from `source` for images of `image`, with the host's kernels so every value is computed as the host would. */
  load(device: number, source: ModelSource, image: number[], kernels: 'wasm' | 'reference'): ModelDeviceInfo {
    if (this.loaded) throw errors.deviceProtocol(`device ${device} already holds a model`);
    if ((kernels === 'wasm') !== wasmKernelsAvailable()) configureKernels({ forceJs: kernels === 'reference' });
    const loaded = loadSource(source);
    this.program = programOf(loaded, image);
    this.loaded = loaded;
    this.image = [...image];
    this.device = device;
    this.weightBytes = weightBytesOf(loaded);
    return { units: this.program.units.map((u) => ({ label: u.label })), weightBytes: this.weightBytes };
  }

  /** Runs units [from, to) on `values` and returns those named in `send` (transferred), with the timing. */
  run(values: Record<string, Tensor>, from: number, to: number, send: string[]): { values: Record<string, Tensor>; timing: StageTiming } {
    const { out, timing } = this.compute(-1, values, from, to, send);
    const result = sendable(out);
    return Comlink.transfer({ values: result.values, timing }, result.transfer);
  }

  /** The unit the last run started (-1 before any): where a failed run stopped. */
  lastUnit(): number {
    return this.currentUnit;
  }

  /** Makes this device pipeline stage `stage`: micro-batches arrive on `input`, results leave on `output`. */
  connect(stage: StageSpec, input: MessagePort, output: MessagePort): void {
    if (!this.program) throw errors.deviceProtocol('connect: load a model first');
    this.ports.push(input, output);
    input.on('message', (message: PipelineMessage) => {
      if ('failure' in message) {
        output.postMessage(message);
        return;
      }
      try {
        const { out, timing } = this.compute(stage.index, message.values, stage.from, stage.to, stage.send);
        const result = sendable(out);
        output.postMessage({ pass: message.pass, micro: message.micro, values: result.values, timings: [...message.timings, timing] } satisfies PipelineMessage, result.transfer);
      } catch (error) {
        const unit = this.program!.units[this.currentUnit]?.label ?? `unit ${this.currentUnit}`;
        const failure = { device: this.device, stage: stage.index, unit, message: error instanceof Error ? error.message : String(error) };
        output.postMessage({ pass: message.pass, micro: message.micro, failure } satisfies PipelineMessage);
      }
    });
  }

  /** Makes this device one of a channels split: per graph node, the output runs it computes and the channels it reads; `status` (shared with the host) gets the node it is at. */
  channelsConnect(specs: ChannelNodeSpec[], status?: Int32Array): void {
    if (!this.loaded) throw errors.deviceProtocol('channelsConnect: load a model first');
    const loaded = this.loaded;
    let graph: ModelGraph;
    let compute: ChannelNodeCompute;
    if (loaded.kind === 'onnx') {
      const mapped = onnxGraphSteps(loaded.model, this.image);
      const nodes = new OnnxChannelNodes(loaded.model, this.image, mapped.graph, mapped.steps, specs);
      graph = mapped.graph;
      compute = (index, inputs, spec) => nodes.compute(index, inputs, spec);
    } else {
      graph = graphOfModule(loaded.model);
      const modules = graph.nodes.map((n) => nodeModule(loaded.model, n));
      compute = (index, inputs, spec) => computeRuns(graph.nodes[index], modules[index], inputs, spec.channels, spec.outputs);
    }
    if (specs.length !== graph.nodes.length) throw errors.deviceProtocol(`device ${this.device}: ${specs.length} node specs for a graph of ${graph.nodes.length} nodes`);
    this.channels = new ChannelDeviceState(this.device, graph, compute, specs);
    this.status = status ?? null;
  }

  /** A channels pass starts: the whole input, and the blocks node 0 needs from this device. */
  channelsBegin(input: Tensor, requests: ChannelRequest[]): ChannelBlock[] {
    const channels = this.channelsState();
    // A word left from the last pass could name a node this pass never reached, should the device fail before starting one.
    if (this.status) Atomics.store(this.status, 0, -1);
    channels.begin(input);
    return this.sendBlocks(channels.extract(requests));
  }

  /**
   * Nodes [from, to) of a channels pass, the first with the blocks it receives;
   * then the blocks node `to` needs from this device (transferred). The node
   * being run is written to the host's status word as it starts, so a failure
   * is placed even when this thread dies.
   */
  channelsNodes(from: number, to: number, received: ChannelBlock[], requests: ChannelRequest[]): ChannelSegmentResult {
    const channels = this.channelsState();
    const result = channels.segment(from, to, received, requests, (index) => {
      this.currentUnit = index;
      if (this.status) Atomics.store(this.status, 0, index);
    });
    return Comlink.transfer(result, result.blocks.map((b) => b.data.buffer as ArrayBuffer));
  }

  /** This device's runs of the model's output. */
  channelsOutput(): { ranges: [number, number][]; shape: number[]; data: Float32Array } {
    const out = this.channelsState().output();
    return Comlink.transfer(out, [out.data.buffer as ArrayBuffer]);
  }

  private channelsState(): ChannelDeviceState {
    if (!this.channels) throw errors.deviceProtocol(`device ${this.device}: not part of a channels split (channelsConnect first)`);
    return this.channels;
  }

  private sendBlocks(blocks: ChannelBlock[]): ChannelBlock[] {
    return Comlink.transfer(blocks, blocks.map((b) => b.data.buffer as ArrayBuffer));
  }

  private compute(stage: number, values: Record<string, Tensor>, from: number, to: number, send: string[]): { out: Map<string, Tensor>; timing: StageTiming } {
    if (!this.program) throw errors.deviceProtocol('run: load a model first');
    // A model of fixed batch runs a share in chunks: each unit's time is summed over them.
    const unitMs = new Array<number>(to - from).fill(0);
    let open = -1;
    let openedAt = 0;
    const close = (t: number) => {
      if (open >= 0) unitMs[open - from] += t - openedAt;
    };
    const startMs = now();
    const out = this.program.run(from, to, new Map(Object.entries(values)), send, (unit) => {
      const t = now();
      close(t);
      this.currentUnit = open = unit;
      openedAt = t;
    });
    const endMs = now();
    close(endMs);
    return { out, timing: { device: this.device, stage, startMs, endMs, unitMs, receivedBytes: bytesOf(values) } };
  }

  stats(): ModelDeviceStats {
    const { liveBytes, peakBytes } = sharedArena().stats();
    return { weightBytes: this.weightBytes, threadCpuMs: threadCpuMs(), heapUsedBytes: getHeapStatistics().used_heap_size, arena: { liveBytes, peakBytes } };
  }
}
