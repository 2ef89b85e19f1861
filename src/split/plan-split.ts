// planSplit: how a model would run cut over N devices, by output channels
// (AlexNet's split), by consecutive layers (a pipeline) or by images (data
// parallel), or whichever of those the link model makes fastest (auto). Pure
// arithmetic on the model's graph: no thread starts.
import { errors } from '../errors.js';
import type { Module } from '../layers/module.js';
import { channelPieces } from './channels.js';
import { deviceLayer, deviceMemory, transferMs, type DevicePart } from './costs.js';
import { graphOfModule } from './from-modules.js';
import { graphOfOnnx, isOnnxModel, staticImageShape } from './from-onnx.js';
import type { OnnxModel } from '../onnx/model.js';
import { inferShapes, lastUse, nodeFlops, type ModelGraph } from './graph.js';
import type { Collective, DeviceLayerPlan, LayerPlan, LinkModel, PipelinePlan, SplitPlan, Strategy } from './plan-types.js';
import { count, share, type Range } from './ranges.js';

export const STRATEGIES = ['channels', 'pipeline', 'data', 'auto'] as const;
export type StrategyChoice = (typeof STRATEGIES)[number];

export interface PlanSplitOptions {
  devices: number;
  strategy?: StrategyChoice;
  /** Images per pass. Default 1. */
  batch?: number;
  /** One image's [channels, height, width]; AlexNet's default is its paper's [3, 227, 227]. */
  inputShape?: readonly number[];
  /** Memory per device; default unlimited. */
  budgetBytes?: number;
  /** Default 10 Gb/s, 5 µs per transfer. */
  link?: Partial<LinkModel>;
  /** Pipeline micro-batches; default the batch (one image each). */
  microBatches?: number;
  /** Assumed compute rate of a device for the simulated time; default 25 GFLOP/s (about one core's WebAssembly SIMD convolutions). */
  deviceGflops?: number;
}

export const DEFAULT_LINK: LinkModel = { gbps: 10, latencyUs: 5 };
export const DEFAULT_DEVICE_GFLOPS = 25;

interface Context {
  graph: ModelGraph;
  shapes: Map<string, number[]>;
  devices: number;
  batch: number;
  inputShape: number[];
  link: LinkModel;
  deviceGflops: number;
  budgetBytes: number;
  microBatches: number;
}

const positiveInteger = (name: string, v: unknown): number => {
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) throw errors.notPositiveInteger(name, v);
  return v;
};
const positiveNumber = (name: string, v: unknown): number => {
  if (typeof v !== 'number' || !(v > 0)) throw errors.invalid(name, `must be a positive number, got ${String(v)}`);
  return v;
};

function collectiveOf(layer: LayerPlan, strategy: Strategy): Collective {
  if (layer.devices.every((d) => d.receivedBytes === 0)) return 'none';
  if (strategy === 'pipeline') return 'send-receive';
  if (layer.op === 'shuffle') return 'all-to-all';
  // An LRN that first realigns an unbalanced input moves more for the realign than for its halo.
  if (layer.reason || layer.op === 'add' || layer.op === 'broadcast') return 'realign';
  if (layer.op === 'lrn') return 'halo';
  return 'all-gather';
}

function layerPlan(ctx: Context, index: number, strategy: Strategy, parts: DevicePart[], reason?: string): LayerPlan {
  const node = ctx.graph.nodes[index];
  const inputShapes = node.inputs.map((v) => ctx.shapes.get(v)!);
  const outputShape = ctx.shapes.get(node.output)!;
  const devices = parts.map((part) => deviceLayer(node, inputShapes, outputShape, part, ctx.deviceGflops, ctx.link));
  const layer: LayerPlan = {
    name: node.name,
    label: node.label,
    op: node.op.kind,
    ...(node.op.kind === 'conv' ? { groups: node.op.groups } : {}),
    inputShapes,
    outputShape,
    collective: 'none',
    ...(reason ? { reason } : {}),
    devices,
  };
  layer.collective = collectiveOf(layer, strategy);
  return layer;
}

/** Bytes each device keeps of values that outlive the layer without being read by it (a residual's skip operand). */
function liveBytes(ctx: Context, held: (value: string, d: number) => Range[] | null, images: (d: number) => number): number[][] {
  const last = lastUse(ctx.graph);
  const produced = [ctx.graph.input];
  return ctx.graph.nodes.map((node, i) => {
    const live = produced.filter((v) => last.get(v)! > i && !node.inputs.includes(v));
    produced.push(node.output);
    return Array.from({ length: ctx.devices }, (_, d) =>
      live.reduce((sum, v) => {
        const runs = held(v, d);
        const shape = ctx.shapes.get(v)!;
        return sum + (runs ? count(runs) * images(d) * shape.slice(2).reduce((p, x) => p * x, 1) * 4 : 0);
      }, 0),
    );
  });
}

function channelsLayers(ctx: Context, devices: number, images: (d: number) => Range): LayerPlan[] {
  const layers = channelPieces(ctx.graph, ctx.shapes, devices);
  const outputs = new Map<string, Range[][]>([[ctx.graph.input, Array.from({ length: devices }, (): Range[] => [[0, ctx.inputShape[0]]])]]);
  ctx.graph.nodes.forEach((node, i) => outputs.set(node.output, layers[i].pieces.map((p) => p.outputs)));
  const sub = { ...ctx, devices };
  const live = liveBytes(sub, (v, d) => outputs.get(v)![d], (d) => images(d)[1] - images(d)[0]);
  return ctx.graph.nodes.map((_, i) =>
    layerPlan(sub, i, 'channels', layers[i].pieces.map((p, d) => ({ ...p, images: images(d), liveBytes: live[i][d] })), layers[i].realigned),
  );
}

/** Stage boundaries: cut where the running FLOP count passes each device's equal share, every stage non-empty. */
export function pipelineStages(flops: readonly number[], devices: number): Range[] {
  if (flops.length < devices) throw errors.invalid('devices', `a pipeline of ${devices} stages needs at least ${devices} layers, the model has ${flops.length}`);
  const total = flops.reduce((a, b) => a + b, 0);
  const stages: Range[] = [];
  let start = 0;
  let running = 0;
  for (let s = 0; s < devices - 1; s++) {
    const target = (total * (s + 1)) / devices;
    let end = start + 1;
    running += flops[start];
    // Take the next layer while that brings the stage's end closer to its target, leaving a layer for each later stage.
    while (end < flops.length - (devices - 1 - s) && Math.abs(running + flops[end] - target) <= Math.abs(running - target)) running += flops[end++];
    stages.push([start, end]);
    start = end;
  }
  stages.push([start, flops.length]);
  return stages;
}

function pipelineLayers(ctx: Context): { layers: LayerPlan[]; pipeline: PipelinePlan; ms: number } {
  const { graph, shapes, devices, batch } = ctx;
  const flops = graph.nodes.map((n) => nodeFlops(n, n.inputs.map((v) => shapes.get(v)!), shapes.get(n.output)!));
  const stages = pipelineStages(flops, devices);
  const stageOf = (i: number) => stages.findIndex(([a, b]) => i >= a && i < b);
  const producer = new Map<string, number>(graph.nodes.map((n, i) => [n.output, stageOf(i)]));
  const M = Math.min(ctx.microBatches, batch);
  const microImages = Math.ceil(batch / M);
  const received = new Set<string>();
  // Values a stage holds whole: its own outputs, what it received, the model's input (from the host).
  const live = liveBytes(ctx, (v, d) => (v === graph.input || producer.get(v) === d || received.has(`${d}:${v}`) ? [[0, shapes.get(v)![1]]] : null), () => microImages);
  received.clear();
  const parts = graph.nodes.map((node, i) => {
    const stage = stageOf(i);
    return Array.from({ length: devices }, (_, d): DevicePart => {
      const whole = (v: string): Range => [0, shapes.get(v)![1]];
      if (d !== stage) return { images: [0, batch], outputs: null, needs: [], held: [], received: [], liveBytes: live[i][d] };
      const incoming = node.inputs
        .filter((v) => v !== graph.input && producer.get(v) !== d && !received.has(`${d}:${v}`))
        .map((v) => ({ from: producer.get(v)!, value: v, ranges: [whole(v)] }));
      incoming.forEach((t) => received.add(`${d}:${t.value}`));
      const part: DevicePart = { images: [0, batch], outputs: [whole(node.output)], needs: node.inputs.map((v) => [whole(v)]), held: node.inputs.map((v) => [whole(v)]), received: incoming, liveBytes: live[i][d] };
      if (node.op.kind === 'conv') part.groups = node.op.groups;
      return part;
    });
  });
  const layers = parts.map((p, i) => layerPlan(ctx, i, 'pipeline', p));
  // Memory is held per micro-batch: the working set of a micro-batch's images (the weights whole).
  const microCtx = { ...ctx, shapes: new Map([...shapes].map(([v, s]) => [v, [microImages, ...s.slice(1)]])) };
  const microLayers = graph.nodes.map((_, i) =>
    layerPlan(microCtx, i, 'pipeline', parts[i].map((p) => ({ ...p, images: [0, microImages] as Range }))),
  );
  // Per micro-batch, a stage computes its layers then hands on; M micro-batches take the sum of the stages plus M - 1 of the slowest.
  const stageMs = stages.map((_, s) =>
    microLayers.reduce((sum, l) => sum + l.devices[s].computeMs + l.devices[s].received.reduce((t, r) => t + transferMs(r.bytes, ctx.link), 0), 0),
  );
  const ms = stageMs.reduce((a, b) => a + b, 0) + (M - 1) * Math.max(...stageMs);
  const busy = stageMs.reduce((a, b) => a + b, 0) * M;
  // Memory comes from the micro-batch working sets; traffic and compute from the whole batch.
  layers.forEach((l, i) =>
    l.devices.forEach((p, d) => {
      const m = microLayers[i].devices[d];
      Object.assign(p, { activationBytes: m.activationBytes, scratchBytes: m.scratchBytes, assembleBytes: m.assembleBytes });
    }),
  );
  return { layers, pipeline: { stages, microBatches: M, bubble: 1 - busy / (devices * ms) }, ms };
}

function simulatedMs(layers: readonly LayerPlan[]): { ms: number; computeMs: number; transferMs: number } {
  let ms = 0;
  let computeMs = 0;
  let transfer = 0;
  for (const l of layers) {
    // Devices run a layer side by side; each first receives what it needs, then computes.
    ms += Math.max(...l.devices.map((d) => d.transferMs + d.computeMs));
    computeMs += Math.max(...l.devices.map((d) => d.computeMs));
    transfer += Math.max(...l.devices.map((d) => d.transferMs));
  }
  return { ms, computeMs, transferMs: transfer };
}

function planStrategy(ctx: Context, strategy: Strategy): SplitPlan {
  const { devices, batch } = ctx;
  const all: Range = [0, batch];
  const oneDeviceMs = simulatedMs(channelsLayers(ctx, 1, () => all)).ms;
  let layers: LayerPlan[];
  let simulated: { ms: number; computeMs: number; transferMs: number };
  let pipeline: PipelinePlan | undefined;
  let reason: string;
  if (strategy === 'channels') {
    layers = channelsLayers(ctx, devices, () => all);
    simulated = simulatedMs(layers);
    reason = 'output channels split over the devices, aligned to groups';
  } else if (strategy === 'data') {
    if (batch < devices) throw errors.invalid('batch', `the data strategy splits the images: a batch of ${batch} cannot feed ${devices} devices`);
    // Each device runs the whole model on its images, so it is the one-device plan on its share of the batch.
    const perDevice = Array.from({ length: devices }, (_, d) => channelsLayers(ctx, 1, () => share(batch, devices, d)));
    layers = perDevice[0].map((l, i) => ({ ...l, devices: perDevice.map((p) => p[i].devices[0]) }));
    simulated = simulatedMs(layers);
    reason = 'images split over the devices, weights replicated: no traffic, memory for the weights on every device';
  } else {
    const p = pipelineLayers(ctx);
    layers = p.layers;
    pipeline = p.pipeline;
    const computeMs = layers.reduce((s, l) => s + Math.max(...l.devices.map((d) => d.computeMs)), 0);
    const transfer = layers.reduce((s, l) => s + Math.max(...l.devices.map((d) => d.transferMs)), 0);
    simulated = { ms: p.ms, computeMs, transferMs: transfer };
    reason = `consecutive layers per device balanced by FLOPs, ${p.pipeline.microBatches} micro-batches, bubble ${(100 * p.pipeline.bubble).toFixed(1)}%`;
  }
  const memory = Array.from({ length: devices }, (_, d) =>
    deviceMemory(d, layers.map((l) => ({ label: l.label, part: l.devices[d] })), ctx.budgetBytes),
  );
  return {
    model: ctx.graph.name,
    strategy,
    devices,
    batch,
    inputShape: ctx.inputShape,
    link: ctx.link,
    deviceGflops: ctx.deviceGflops,
    budgetBytes: ctx.budgetBytes,
    layers,
    memory,
    fits: memory.every((m) => m.fits),
    ...(pipeline ? { pipeline } : {}),
    simulated: { ...simulated, oneDeviceMs, speedup: oneDeviceMs / simulated.ms },
    reason,
  };
}

const ms = (v: number) => `${v.toFixed(2)} ms`;

/** The strategy with the least simulated time among those that fit the budget (all of them if none does). */
function pickAuto(ctx: Context): SplitPlan {
  const candidates: SplitPlan[] = [];
  const refused: string[] = [];
  for (const strategy of ['channels', 'pipeline', 'data'] as const) {
    try {
      candidates.push(planStrategy(ctx, strategy));
    } catch (error) {
      refused.push(`${strategy} impossible (${error instanceof Error ? error.message : String(error)})`);
    }
  }
  if (candidates.length === 0) throw errors.invalid('strategy', `no strategy can split ${ctx.graph.name}: ${refused.join('; ')}`);
  const fitting = candidates.filter((p) => p.fits);
  const pool = fitting.length > 0 ? fitting : candidates;
  const best = pool.reduce((a, b) => (b.simulated.ms < a.simulated.ms ? b : a));
  const others = candidates.filter((p) => p !== best).map((p) => `${p.strategy} ${ms(p.simulated.ms)}${p.fits ? '' : ' (over the budget)'}`);
  const link = `${ctx.link.gbps} Gb/s, ${ctx.link.latencyUs} µs link`;
  const why =
    `auto: ${best.strategy}, ${ms(best.simulated.ms)} simulated` +
    (others.length ? `, less than ${others.join(', ')}` : '') +
    ` under a ${link}` +
    (fitting.length === 0 ? '; no strategy fits the budget' : '') +
    (refused.length ? `; ${refused.join('; ')}` : '');
  return { ...best, reason: `${why} (${best.reason})` };
}

/** The graph of what planSplit accepts: a model groupconv builds from modules, or a graph already. */
function graphOf(model: Module | ModelGraph): ModelGraph {
  return 'nodes' in model && Array.isArray((model as ModelGraph).nodes) ? (model as ModelGraph) : graphOfModule(model as Module);
}

/** One image's shape: given, or AlexNet's paper's, or an ONNX model's declared one when it is static. */
function imageShape(model: Module | ModelGraph | OnnxModel, graphName: () => string, given: readonly number[] | undefined): number[] {
  const image = given ?? (isOnnxModel(model) ? staticImageShape(model) : graphName() === 'AlexNet' ? [3, 227, 227] : undefined);
  if (!image || !Array.isArray(image) || image.length !== 3) {
    const declared = isOnnxModel(model) ? ` (its input is declared [${(model.inputs[0].shape ?? []).join(', ')}]: give inputShape, --input on the command line)` : '';
    throw errors.invalid('inputShape', `expected one image's [channels, height, width] for ${graphName()}${declared}, got ${JSON.stringify(image)}`);
  }
  return [...image];
}

/**
 * How `model` would run split over `devices` devices: per layer and device
 * what it computes, holds and receives; per device its memory against the
 * budget; the simulated time under the link. Checks every option first.
 */
export function planSplit(model: Module | ModelGraph | OnnxModel, options: PlanSplitOptions): SplitPlan {
  if (options === null || typeof options !== 'object') throw errors.invalid('options', 'expected { devices, strategy, batch, inputShape, budgetBytes, link }');
  const known = ['devices', 'strategy', 'batch', 'inputShape', 'budgetBytes', 'link', 'microBatches', 'deviceGflops'];
  for (const key of Object.keys(options)) if (!known.includes(key)) throw errors.unknownOption('options', key, known);
  const devices = positiveInteger('devices', options.devices);
  const strategy = options.strategy ?? 'channels';
  if (!STRATEGIES.includes(strategy)) throw errors.invalid('strategy', `expected one of ${STRATEGIES.join(', ')}, got '${String(strategy)}'`);
  const batch = positiveInteger('batch', options.batch ?? 1);
  const budgetBytes = options.budgetBytes === undefined ? Infinity : positiveNumber('budgetBytes', options.budgetBytes);
  const link: LinkModel = {
    gbps: positiveNumber('link.gbps', options.link?.gbps ?? DEFAULT_LINK.gbps),
    latencyUs: options.link?.latencyUs ?? DEFAULT_LINK.latencyUs,
  };
  if (typeof link.latencyUs !== 'number' || !(link.latencyUs >= 0)) throw errors.invalid('link.latencyUs', `must be a non-negative number, got ${String(link.latencyUs)}`);
  const deviceGflops = positiveNumber('deviceGflops', options.deviceGflops ?? DEFAULT_DEVICE_GFLOPS);
  const microBatches = positiveInteger('microBatches', options.microBatches ?? batch);
  let graph: ModelGraph;
  let image: number[];
  if (isOnnxModel(model)) {
    // An ONNX graph is read from its plan for one input shape, so the shape comes first.
    image = imageShape(model, () => model.graph.name || 'the ONNX model', options.inputShape);
    if (image.some((d) => !Number.isInteger(d) || d <= 0)) throw errors.invalid('inputShape', `expected positive integers, got [${image.join(', ')}]`);
    graph = graphOfOnnx(model, image);
  } else {
    graph = graphOf(model);
    image = imageShape(model, () => graph.name, options.inputShape);
  }
  const shapes = inferShapes(graph, [batch, ...image]);
  const ctx: Context = { graph, shapes, devices, batch, inputShape: [...image], link, deviceGflops, budgetBytes, microBatches };
  return strategy === 'auto' ? pickAuto(ctx) : planStrategy(ctx, strategy);
}

/** Bytes a device receives over the whole pass. */
export function receivedTotal(plan: SplitPlan, device: number): number {
  return plan.layers.reduce((sum, l) => sum + l.devices[device].receivedBytes, 0);
}

export type { DeviceLayerPlan };
export { count as channelCount };
