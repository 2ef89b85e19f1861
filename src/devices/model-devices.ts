// Any model's split plan run on devices (the host side): a zoo model, AlexNet
// or an ONNX model, by the planner's data, pipeline or channels plan. Each
// device is a long-lived worker thread that builds the whole model from its
// source once (model-device-state.ts).
//
// Data: device d runs every unit on the planner's share of the images;
// nothing crosses between devices. Pipeline: device d runs the units of the
// planner's stage d (its graph nodes mapped onto the units) on micro-batches;
// the host posts every micro-batch into stage 0 at once, each device sends the
// values live at its stage's end straight to the next device through a
// MessagePort, and the last sends the output to the host, so the stages
// overlap. Each image goes through the same units, in the same order, with the
// same kernels as on one device, whose results per image do not depend on how
// many images run together: the output is the same bits at any device count.
// Channels: device d computes its planned runs of every graph node
// (channel-device-state.ts; channelsPass below says how the blocks travel).
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import * as Comlink from 'comlink';
import { errors } from '../errors.js';
import { wasmKernelsAvailable } from '../kernels/plan/index.js';
import type { Module } from '../layers/module.js';
import { AlexNet } from '../models/alexnet.js';
import { alexNetInputSize } from './split-model.js';
import { graphOfModule } from '../split/from-modules.js';
import { onnxGraphSteps, staticImageShape } from '../split/from-onnx.js';
import type { ModelGraph } from '../split/graph.js';
import { planSplit, type StrategyChoice } from '../split/plan-split.js';
import type { LinkModel, SplitPlan } from '../split/plan-types.js';
import type { DeviceEvent, MeasuredTimeline } from '../split/trace.js';
import { share } from '../split/ranges.js';
import { SPLIT_MODELS } from '../split/zoo.js';
import { checkTensor, type Tensor } from '../tensor/tensor.js';
import { CHANNEL_RUN_KINDS } from './channel-node.js';
import { onnxNodeRecipes } from './onnx-channel-recipe.js';
import type { ChannelBlock, ChannelNodeSpec, ChannelRequest } from './channel-device-state.js';
import { blocksOf, gather, mergeHeld, type HeldValue } from './channel-runs.js';
import { ModelDevice } from './model-device.js';
import type { ModelDeviceStats, PipelineMessage, StageSpec, StageTiming } from './model-device-state.js';
import { batchRange, concatBatch, liveAcross, type Program } from './model-program.js';
import { closeLoaded, loadSource, programOf, type LoadedModel, type ModelSource } from './model-source.js';

export interface ModelDevicesOptions {
  devices?: number;
  /** data, pipeline or channels; auto takes the planner's pick. Default pipeline. */
  strategy?: StrategyChoice;
  /** Images per pass the plan is made (and the budget checked) for. Default 1. */
  batch?: number;
  /** One image's [C, H, W]; default the model's (an ONNX model's declared input, a zoo model's). */
  inputShape?: readonly number[];
  /** Memory per device; default unlimited. A plan that does not fit is refused before any thread starts. */
  budgetBytes?: number;
  link?: Partial<LinkModel>;
  /** Pipeline micro-batches; default the planner's (the batch: one image each). */
  microBatches?: number;
}

const KNOWN_OPTIONS = ['devices', 'strategy', 'batch', 'inputShape', 'budgetBytes', 'link', 'microBatches'];

/** One unit (layer) of a pass: per device, the time it spent and the bytes it received from other devices for it. */
export interface UnitRun {
  name: string;
  label: string;
  /** The slowest device's time on the unit. */
  wallMs: number;
  devices: { computeMs: number; receivedBytes: number }[];
}

export interface StageRun {
  device: number;
  /** Units [from, to) of the program, and the first and last by label. */
  units: [number, number];
  first: string | null;
  last: string | null;
  /** Time spent computing over the pass (all micro-batches). */
  busyMs: number;
  receivedBytes: number;
}

export type DeviceStrategy = 'data' | 'pipeline' | 'channels';

export interface ModelRun {
  strategy: DeviceStrategy;
  devices: number;
  batch: number;
  /** Host wall time of the pass. */
  wallMs: number;
  layers: UnitRun[];
  stages: StageRun[];
  /** Micro-batches the pass ran in (1 per device share for data; 1 for channels: every device works on the whole batch). */
  microBatches: number;
  /** Bytes each device received from the other devices, and from the host (images). */
  exchangedBytes: number[];
  hostInBytes: number;
  hostOutBytes: number;
  /** Share of device time idle during the pass: 1 - busy / (devices x wall). */
  bubble: number;
  /**
   * Data and pipeline: where each device computed each unit (each micro-batch's
   * in a pipeline), on the devices' own clocks, for --trace; `layer` is the unit's
   * index. Channels passes report per-unit times only.
   */
  timeline?: MeasuredTimeline;
}

/** The image shape a source's model takes by default. */
function defaultImage(loaded: LoadedModel, source: ModelSource): number[] | null {
  if (loaded.kind === 'onnx') return staticImageShape(loaded.model);
  if (loaded.model instanceof AlexNet) {
    const side = alexNetInputSize(loaded.model.config.pooled);
    return [3, side, side];
  }
  return source.kind === 'zoo' && SPLIT_MODELS[source.name] ? [...SPLIT_MODELS[source.name].inputShape] : null;
}

/**
 * The planner's pipeline stages (ranges of split graph nodes) as ranges of
 * program units: each unit goes to the stage of the graph node whose value it
 * writes; a unit no node maps to (an ONNX step folded into a shuffle or an
 * LRN) goes with the next one that does, and a fused group goes with its last
 * node, so a stage may start a unit or two off the planner's cut.
 */
export function stageUnits(plan: SplitPlan, graphOutputs: readonly string[], program: Program): [number, number][] {
  const stages = plan.pipeline!.stages;
  const stageOfValue = new Map<string, number>();
  graphOutputs.forEach((v, i) => stageOfValue.set(v, stages.findIndex(([a, b]) => i >= a && i < b)));
  const assigned = program.units.map((u) => {
    const known = u.outputs.map((v) => stageOfValue.get(v)).filter((s): s is number => s !== undefined);
    return known.length ? Math.max(...known) : null;
  });
  let next = stages.length - 1;
  for (let i = assigned.length - 1; i >= 0; i--) next = assigned[i] ??= next;
  let running = 0;
  const stageOf = assigned.map((s) => (running = Math.max(running, s!)));
  return stages.map((_, d): [number, number] => {
    const from = stageOf.findIndex((s) => s >= d);
    const to = stageOf.findIndex((s) => s > d);
    return [from < 0 ? stageOf.length : from, to < 0 ? stageOf.length : to];
  });
}

export class ModelDevices {
  private passes = 0;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;
  /** The pipeline's current pass: where the last stage's results go. */
  private listener: ((message: PipelineMessage) => void) | null = null;
  /** Fails the pipeline's current pass (a device died under it). */
  private failPass: ((error: Error) => void) | null = null;
  /** A channels split's node segments (a new one at each node some device receives blocks for), and each device's status word (the node it is at). */
  private channelSegments: [number, number][] = [];
  private channelStatus: Int32Array[] = [];

  private constructor(
    readonly plan: SplitPlan,
    private readonly devices: ModelDevice[],
    readonly units: readonly { label: string; inputs: string[]; outputs: string[] }[],
    private readonly input: string,
    private readonly output: string,
    readonly stageRanges: [number, number][],
    private readonly ports: { feed: MessagePort; results: MessagePort } | null,
    private readonly microBatches: number,
    /** A channels pass's batch must be a multiple of this (an ONNX model's fixed batch): its devices run it in chunks of it. */
    private readonly batchMultiple: number,
  ) {
    ports?.results.on('message', (message: PipelineMessage) => this.listener?.(message));
    for (const device of devices) {
      device.failed.catch((error: Error) => {
        const [from, to] = this.stageRanges[device.index];
        this.failPass?.(errors.devicePassFailed(device.index, this.describeStage(from, to), error));
      });
    }
  }

  get deviceCount(): number {
    return this.devices.length;
  }

  get strategy(): DeviceStrategy {
    return this.plan.strategy;
  }

  /**
   * Plans `source`'s model over the devices, refuses a plan that does not fit
   * the budget or that the devices cannot run (a channels plan with a node
   * they cannot compute by channel runs, named), then starts the devices and
   * has each build the model. For a
   * pipeline, connects them stage to stage; for channels, gives each its runs
   * of every layer.
   */
  static async create(source: ModelSource, options: ModelDevicesOptions = {}): Promise<ModelDevices> {
    if (options === null || typeof options !== 'object') throw errors.invalid('options', `expected { ${KNOWN_OPTIONS.join(', ')} }`);
    for (const key of Object.keys(options)) if (!KNOWN_OPTIONS.includes(key)) throw errors.unknownOption('options', key, KNOWN_OPTIONS);
    const devices = options.devices ?? 2;
    const loaded = loadSource(source);
    let plan: SplitPlan;
    let program: Program;
    let graph: ModelGraph;
    let batchMultiple = 1;
    try {
      const image = options.inputShape ? [...options.inputShape] : defaultImage(loaded, source);
      if (!image) throw errors.invalid('inputShape', `the model's input has a symbolic height or width: give one image's [C, H, W]`);
      const mapped = loaded.kind === 'onnx' ? onnxGraphSteps(loaded.model, image) : null;
      graph = mapped ? mapped.graph : graphOfModule(loaded.model as Module);
      plan = planSplit(graph, {
        inputShape: image,
        devices,
        strategy: options.strategy ?? 'pipeline',
        batch: options.batch ?? 1,
        ...(options.budgetBytes !== undefined ? { budgetBytes: options.budgetBytes } : {}),
        ...(options.link ? { link: options.link } : {}),
        ...(options.microBatches !== undefined ? { microBatches: options.microBatches } : {}),
      });
      program = programOf(loaded, plan.inputShape);
      if (plan.strategy === 'channels' && loaded.kind === 'onnx') {
        // Every node must have a way to run by channel runs before any thread starts (this throws, naming the node).
        const declared = loaded.model.inputs[0].shape?.[0];
        batchMultiple = typeof declared === 'number' && declared > 0 ? declared : 1;
        onnxNodeRecipes(plan.model, loaded.model.planFor({ [loaded.model.inputs[0].name]: [batchMultiple, ...plan.inputShape] }), graph, mapped!.steps);
      }
    } finally {
      closeLoaded(loaded);
    }
    if (plan.strategy === 'channels' && loaded.kind !== 'onnx') {
      const odd = graph.nodes.find((n) => !CHANNEL_RUN_KINDS.has(n.op.kind));
      if (odd) throw errors.channelsOpNotRunnable(odd.label, `a ${odd.op.kind} layer`);
    }
    if (!plan.fits) {
      throw errors.deviceMemory(
        `${plan.model} at batch ${plan.batch} does not fit ${devices} devices of ${plan.budgetBytes} bytes under the ${plan.strategy} plan: ` +
          plan.memory.map((m) => `device ${m.device} needs ${m.totalBytes} bytes`).join('; '),
        plan.memory.map((m) => m.totalBytes),
        plan.budgetBytes,
      );
    }
    // A channels pass goes node by node of the split graph (an ONNX model's scheduled steps are not its units then).
    const units = plan.strategy === 'channels' ? graph.nodes.map((n) => ({ label: n.label, inputs: [...n.inputs], outputs: [n.output] })) : program.units;
    const stageRanges: [number, number][] =
      plan.strategy === 'pipeline' ? stageUnits(plan, graph.nodes.map((n) => n.output), program) : Array.from({ length: devices }, () => [0, units.length]);

    const started: ModelDevice[] = [];
    const channels: MessageChannel[] = [];
    try {
      for (let d = 0; d < devices; d++) started.push(new ModelDevice(d));
      const kernels = wasmKernelsAvailable() ? 'wasm' : 'reference';
      await Promise.all(started.map((device) => device.call((api) => api.load(device.index, source, plan.inputShape, kernels))));
      let ports: { feed: MessagePort; results: MessagePort } | null = null;
      if (plan.strategy === 'pipeline') {
        for (let d = 0; d <= devices; d++) channels.push(new MessageChannel());
        await Promise.all(
          started.map((device, d) => {
            const [from, to] = stageRanges[d];
            const stage: StageSpec = { index: d, from, to, receive: liveAcross(program, from), send: liveAcross(program, to) };
            const input = channels[d].port2;
            const output = channels[d + 1].port1;
            return device.call((api) => api.connect(stage, Comlink.transfer(input, [input as never]), Comlink.transfer(output, [output as never])));
          }),
        );
        ports = { feed: channels[0].port1, results: channels[devices].port2 };
      }
      // Each channels device writes the node it is at here, readable after its thread has died.
      const status = plan.strategy === 'channels' ? started.map(() => new Int32Array(new SharedArrayBuffer(4))) : [];
      if (plan.strategy === 'channels') {
        await Promise.all(
          started.map((device, d) => {
            const specs = plan.layers.map(
              (l): ChannelNodeSpec => ({
                outputs: l.devices[d].outputRuns,
                channels: l.inputShapes[0][1],
                needs: l.devices[d].needs,
                channelsOf: l.inputShapes.map((s) => s[1]),
                quiet: l.devices.every((p) => p.received.length === 0),
              }),
            );
            return device.call((api) => api.channelsConnect(specs, status[d]));
          }),
        );
      }
      const micro = plan.pipeline?.microBatches ?? devices;
      const split = new ModelDevices(plan, started, units, program.input, program.output, stageRanges, ports, micro, batchMultiple);
      if (plan.strategy === 'channels') {
        const cuts = plan.layers.map((_, i) => i).filter((i) => i === 0 || plan.layers[i].devices.some((p) => p.received.length > 0));
        split.channelSegments = cuts.map((from, k): [number, number] => [from, cuts[k + 1] ?? plan.layers.length]);
        split.channelStatus = status;
      }
      return split;
    } catch (error) {
      for (const c of channels) (c.port1.close(), c.port2.close());
      await Promise.all(started.map((d) => d.close()));
      throw error;
    }
  }

  /** The model's output for `x`, and where the pass's time and bytes went. Passes run one at a time. */
  forward(x: Tensor): Promise<{ output: Tensor; run: ModelRun }> {
    const result = this.queue.then(() => this.pass(x));
    this.queue = result.catch(() => {});
    return result;
  }

  private async pass(x: Tensor): Promise<{ output: Tensor; run: ModelRun }> {
    if (this.closed) throw errors.splitClosed();
    checkTensor('x', x, [4]);
    const expected = [...this.plan.inputShape];
    if (x.shape.slice(1).join() !== expected.join()) throw errors.invalid('x.shape', `the devices were planned for images of [${expected.join(', ')}], got [${x.shape.join(', ')}]`);
    const N = x.shape[0];
    const D = this.devices.length;
    if (this.strategy === 'data' && N < D) throw errors.invalid('x.shape', `a batch of ${N} cannot feed ${D} data-parallel devices`);
    if (this.strategy === 'channels' && N % this.batchMultiple !== 0) throw errors.invalid('x.shape', `the model takes batches of ${this.batchMultiple}, and ${N} images are not a multiple of it`);
    const dead = this.devices.find((d) => d.failedWith);
    if (dead) throw errors.devicePassFailed(dead.index, this.describeStage(...this.stageRanges[dead.index]), dead.failedWith);
    const pass = ++this.passes;
    const t0 = performance.now();
    if (this.strategy === 'channels') {
      const { output, timings, received } = await this.channelsPass(x);
      const wallMs = performance.now() - t0;
      return { output, run: this.runOf(N, wallMs, timings, 1, D * x.data.byteLength, output.data.byteLength, received) };
    }
    const { outputs, timings } = this.strategy === 'data' ? await this.dataPass(x) : await this.pipelinePass(x, pass);
    const t1 = performance.now();
    const output = concatBatch(outputs);
    const run = this.runOf(N, t1 - t0, timings, Math.min(this.microBatches, N), x.data.byteLength, output.data.byteLength);
    run.timeline = this.timelineOf(timings, performance.timeOrigin + t0, performance.timeOrigin + t1);
    return { output, run };
  }

  /**
   * A channels pass: every device gets the whole batch, then computes the
   * graph's nodes in step, each its planned output runs. The nodes are cut
   * into segments at each node some device receives blocks for: per segment
   * the host makes one call per device carrying the blocks the plan has it
   * receive for the segment's first node, the device runs the segment's nodes
   * alone, and returns the blocks the next segment's devices need from it: the
   * host only carries them, one round trip per segment.
   */
  private async channelsPass(x: Tensor): Promise<{ output: Tensor; timings: StageTiming[]; received: number[][] }> {
    const layers = this.plan.layers;
    const n = layers.length;
    const requestsFrom = (i: number, e: number): ChannelRequest[] =>
      i >= n ? [] : layers[i].devices.flatMap((part, d) => part.received.filter((t) => t.from === e).map((t) => ({ value: t.value, to: d, ranges: t.ranges })));
    const inboxes = (sent: ChannelBlock[][]) => this.devices.map((_, d) => sent.flat().filter((b) => b.to === d));
    const at = async <T>(d: number, phase: [number, number] | 'start' | 'end', call: (api: ModelDevice['api']) => Promise<T>): Promise<T> => {
      try {
        return await this.devices[d].call(call);
      } catch (error) {
        if (phase === 'start') throw errors.devicePassFailed(d, 'the start of the pass (receiving the images)', error);
        if (phase === 'end') throw errors.devicePassFailed(d, 'the end of the pass (sending its outputs)', error);
        // The node the device last started in the segment (its status word outlives its thread).
        const started = Atomics.load(this.channelStatus[d], 0);
        const i = started >= phase[0] && started < phase[1] ? started : phase[0];
        throw errors.devicePassFailed(d, `${this.units[i].label} (layer ${i + 1} of ${n})`, error);
      }
    };
    let inbox = inboxes(
      await Promise.all(
        this.devices.map((_, d) =>
          at(d, 'start', (api) => {
            const data = x.data.slice();
            return api.channelsBegin(Comlink.transfer({ shape: [...x.shape], data }, [data.buffer]), requestsFrom(0, d));
          }),
        ),
      ),
    );
    const unitMs = this.devices.map(() => new Array<number>(n).fill(0));
    const received = this.devices.map(() => new Array<number>(n).fill(0));
    for (const segment of this.channelSegments) {
      const [from, to] = segment;
      const results = await Promise.all(
        this.devices.map((_, d) => {
          const blocks = inbox[d];
          return at(d, segment, (api) => api.channelsNodes(from, to, Comlink.transfer(blocks, blocks.map((b) => b.data.buffer as ArrayBuffer)), requestsFrom(to, d)));
        }),
      );
      results.forEach((r, d) => {
        r.computeMs.forEach((ms, k) => (unitMs[d][from + k] = ms));
        received[d][from] = r.receivedBytes;
      });
      inbox = inboxes(results.map((r) => r.blocks));
    }
    const parts = await Promise.all(this.devices.map((_, d) => at(d, 'end', (api) => api.channelsOutput())));
    let whole: HeldValue | undefined;
    for (const p of parts) if (p.ranges.length) whole = mergeHeld(whole, blocksOf({ shape: p.shape, data: p.data }, p.ranges));
    const shape = this.plan.layers[n - 1].outputShape;
    const output = gather(whole!, [[0, shape[1]]], 'the output');
    const timings = unitMs.map((ms, d): StageTiming => ({ device: d, stage: d, startMs: 0, endMs: ms.reduce((a, b) => a + b, 0), unitMs: ms, receivedBytes: 0 }));
    return { output: { shape: [x.shape[0], ...output.shape.slice(1)], data: output.data }, timings, received };
  }

  private async dataPass(x: Tensor): Promise<{ outputs: Tensor[]; timings: StageTiming[] }> {
    const D = this.devices.length;
    const results = await Promise.all(
      this.devices.map(async (device, d) => {
        const [start, end] = share(x.shape[0], D, d);
        const images = batchRange(x, start, end);
        const data = images.data.slice();
        try {
          return await device.call((api) => api.run(Comlink.transfer({ [this.input]: { shape: images.shape, data } }, [data.buffer]), 0, this.units.length, [this.output]));
        } catch (error) {
          throw errors.devicePassFailed(d, await this.whereFailed(device), error);
        }
      }),
    );
    return { outputs: results.map((r) => r.values[this.output]), timings: results.map((r) => r.timing) };
  }

  /** Where a device stopped: its unit if it can still say, else its stage. */
  private async whereFailed(device: ModelDevice): Promise<string> {
    const [from, to] = this.stageRanges[device.index];
    const stage = this.describeStage(from, to);
    const unit = await Promise.race([device.api.lastUnit(), device.failed]).catch(() => -1);
    return unit >= from && unit < to ? `${this.units[unit].label} (${stage})` : stage;
  }

  private describeStage(from: number, to: number): string {
    if (this.strategy === 'data') return 'its share of the images';
    if (this.strategy === 'channels') return 'its channels of every layer';
    return from < to ? `its pipeline stage, ${this.units[from].label} to ${this.units[to - 1].label}` : 'its pipeline stage (no layers)';
  }

  private pipelinePass(x: Tensor, pass: number): Promise<{ outputs: Tensor[]; timings: StageTiming[] }> {
    const N = x.shape[0];
    const M = Math.min(this.microBatches, N);
    const outputs: Tensor[] = new Array(M);
    const timings: StageTiming[] = [];
    let received = 0;
    return new Promise((resolve, reject) => {
      const fail = (error: Error) => {
        this.listener = null;
        this.failPass = null;
        reject(error);
      };
      this.failPass = fail;
      this.listener = (message) => {
        if (message.pass !== pass) return; // left over from a failed pass
        if ('failure' in message) {
          const f = message.failure;
          const [from, to] = this.stageRanges[f.device];
          fail(errors.devicePassFailed(f.device, `${f.unit} (${this.describeStage(from, to)})`, f.message));
          return;
        }
        const out = message.values[this.output];
        if (!out || outputs[message.micro]) {
          fail(errors.pipelineOutOfStep(`micro-batch ${message.micro} came back ${out ? 'twice' : `without '${this.output}'`}`));
          return;
        }
        outputs[message.micro] = out;
        timings.push(...message.timings);
        if (++received === M) {
          this.listener = null;
          this.failPass = null;
          resolve({ outputs, timings });
        }
      };
      for (let m = 0; m < M; m++) {
        const [start, end] = share(N, M, m);
        const images = batchRange(x, start, end);
        const data = images.data.slice();
        const message: PipelineMessage = { pass, micro: m, values: { [this.input]: { shape: images.shape, data } }, timings: [] };
        this.ports!.feed.postMessage(message, [data.buffer]);
      }
    });
  }

  /** `received`: a channels pass's bytes per device and layer, from the other devices. */
  private runOf(batch: number, wallMs: number, timings: StageTiming[], microBatches: number, hostInBytes: number, hostOutBytes: number, received?: number[][]): ModelRun {
    const D = this.devices.length;
    const layers: UnitRun[] = this.units.map((u) => ({ name: u.label, label: u.label, wallMs: 0, devices: Array.from({ length: D }, () => ({ computeMs: 0, receivedBytes: 0 })) }));
    const stages: StageRun[] = this.stageRanges.map(([from, to], d) => ({
      device: d,
      units: [from, to],
      first: from < to ? this.units[from].label : null,
      last: from < to ? this.units[to - 1].label : null,
      busyMs: 0,
      receivedBytes: 0,
    }));
    for (const t of timings) {
      const [from] = this.stageRanges[t.device];
      t.unitMs.forEach((ms, i) => (layers[from + i].devices[t.device].computeMs += ms));
      stages[t.device].busyMs += t.endMs - t.startMs;
      // Stage 0 (and every data device) receives its images from the host, counted apart.
      if (this.strategy === 'pipeline' && t.device > 0) {
        stages[t.device].receivedBytes += t.receivedBytes;
        if (from < this.units.length) layers[from].devices[t.device].receivedBytes += t.receivedBytes;
      }
    }
    received?.forEach((bytes, d) =>
      bytes.forEach((b, i) => {
        layers[i].devices[d].receivedBytes = b;
        stages[d].receivedBytes += b;
      }),
    );
    for (const l of layers) l.wallMs = Math.max(...l.devices.map((d) => d.computeMs));
    const busy = stages.reduce((s, st) => s + st.busyMs, 0);
    return {
      strategy: this.strategy,
      devices: D,
      batch,
      wallMs,
      layers,
      stages,
      microBatches: this.strategy === 'data' ? D : microBatches,
      exchangedBytes: stages.map((s) => s.receivedBytes),
      hostInBytes,
      hostOutBytes,
      bubble: Math.max(0, 1 - busy / (D * wallMs)),
    };
  }

  /** Each device's compute slices, unit by unit, from its timings (absolute ms, like the host's start and end). */
  private timelineOf(timings: StageTiming[], startedAt: number, endedAt: number): MeasuredTimeline {
    const devices: DeviceEvent[][] = this.devices.map(() => []);
    for (const t of timings) {
      const [from] = this.stageRanges[t.device];
      let at = t.startMs;
      t.unitMs.forEach((ms, i) => {
        devices[t.device].push({ kind: 'compute', layer: from + i, start: at, end: at + ms });
        at += ms;
      });
    }
    for (const list of devices) list.sort((a, b) => a.start - b.start);
    return { startedAt, endedAt, devices };
  }

  /** Each device's memory after the passes so far. */
  async stats(): Promise<ModelDeviceStats[]> {
    return Promise.all(this.devices.map((d) => d.call((api) => api.stats())));
  }

  /** Stops every device thread and closes the ports; idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.listener = null;
    this.failPass = null;
    this.ports?.feed.close();
    this.ports?.results.close();
    await Promise.all(this.devices.map((d) => d.close()));
  }
}
