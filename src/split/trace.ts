// A split as a Chrome trace (the JSON Perfetto and chrome://tracing open):
// one track per device, compute and transfers as slices with their bytes in
// the args. The simulated timeline comes from the plan; a measured run, when
// there is one, is a second process: where the devices stamped their slices
// (absolute times, so the tracks line up with each other and with the host),
// or else laid out from its per-layer timings.
import { transferMs } from './costs.js';
import type { SplitPlan } from './plan-types.js';

export interface TraceEvent {
  name: string;
  ph: 'X' | 'M';
  pid: number;
  tid: number;
  ts?: number;
  dur?: number;
  cat?: string;
  args?: Record<string, unknown>;
}

/** What a measured run gives per layer and device (SplitRun's layers). */
export interface MeasuredLayer {
  label: string;
  wallMs: number;
  devices: { computeMs: number; linkMs: number; assembleMs: number; receivedBytes: number }[];
}

/**
 * One slice of a device's measured pass, in absolute ms (performance.timeOrigin +
 * performance.now() on the device's thread), so slices line up across devices
 * and with the host. A receive runs from when the device starts waiting for the
 * layer's pieces to when it can use them (the link delay included).
 */
export interface DeviceEvent {
  kind: 'input' | 'receive' | 'assemble' | 'compute' | 'send' | 'output';
  layer: number;
  start: number;
  end: number;
  bytes?: number;
  /** The device a piece came from (receive) or went to (send). */
  peer?: number;
}

/** A measured pass's absolute timeline: the host's call from start to end, each device's slices. */
export interface MeasuredTimeline {
  startedAt: number;
  endedAt: number;
  devices: DeviceEvent[][];
}

/** What --trace draws of a measured run: its layers, and the devices' own timestamps when there are any. */
export interface MeasuredRun {
  layers: readonly MeasuredLayer[];
  timeline?: MeasuredTimeline;
}

const US = 1000; // trace timestamps are microseconds

function tracks(pid: number, process: string, devices: number): TraceEvent[] {
  return [
    { name: 'process_name', ph: 'M', pid, tid: 0, args: { name: process } },
    ...Array.from({ length: devices }, (_, d): TraceEvent => ({ name: 'thread_name', ph: 'M', pid, tid: d, args: { name: `device ${d}` } })),
  ];
}

/** The plan's simulated timeline: layer by layer (channels, data), or micro-batch by micro-batch through the stages (pipeline). */
function simulated(plan: SplitPlan, pid: number): TraceEvent[] {
  const events = tracks(pid, `simulated: ${plan.model}, ${plan.strategy}`, plan.devices);
  const slice = (tid: number, name: string, cat: string, startMs: number, ms: number, args: Record<string, unknown>) => {
    if (ms > 0) events.push({ name, cat, ph: 'X', pid, tid, ts: startMs * US, dur: ms * US, args });
  };
  if (plan.pipeline) {
    const { stages, microBatches } = plan.pipeline;
    const per = (x: number) => x / microBatches;
    const ends: number[] = Array(stages.length).fill(0);
    for (let m = 0; m < microBatches; m++) {
      for (let s = 0; s < stages.length; s++) {
        let t = Math.max(ends[s], s > 0 ? ends[s - 1] : 0);
        for (let i = stages[s][0]; i < stages[s][1]; i++) {
          const d = plan.layers[i].devices[s];
          for (const r of d.received) {
            const ms = transferMs(per(r.bytes), plan.link);
            slice(s, `receive ${r.value}`, 'transfer', t, ms, { bytes: per(r.bytes), from: r.from, microBatch: m });
            t += ms;
          }
          slice(s, plan.layers[i].label, 'compute', t, per(d.computeMs), { microBatch: m, flops: per(d.flops) });
          t += per(d.computeMs);
        }
        ends[s] = t;
      }
    }
    return events;
  }
  let t = 0;
  for (const layer of plan.layers) {
    layer.devices.forEach((d, device) => {
      let at = t;
      for (const r of d.received) {
        const ms = transferMs(r.bytes, plan.link);
        slice(device, `receive ${r.value}`, 'transfer', at, ms, { bytes: r.bytes, from: r.from, collective: layer.collective });
        at += ms;
      }
      slice(device, layer.label, 'compute', at, d.computeMs, { op: layer.op, flops: d.flops, outputs: d.outputRuns });
    });
    t += Math.max(...layer.devices.map((d) => d.transferMs + d.computeMs));
  }
  return events;
}

/** A measured run laid out layer by layer from its wall times: each device's link wait, assembly, then compute. */
function measured(layers: readonly MeasuredLayer[], devices: number, pid: number): TraceEvent[] {
  const events = tracks(pid, 'measured run', devices);
  let t = 0;
  for (const layer of layers) {
    layer.devices.forEach((d, tid) => {
      let at = t;
      const parts: [string, string, number][] = [
        ['link', 'transfer', d.linkMs],
        ['assemble', 'transfer', d.assembleMs],
        [layer.label, 'compute', d.computeMs],
      ];
      for (const [name, cat, ms] of parts) {
        if (ms > 0) events.push({ name: name === layer.label ? name : `${name} ${layer.label}`, cat, ph: 'X', pid, tid, ts: at * US, dur: ms * US, args: cat === 'transfer' ? { bytes: d.receivedBytes } : {} });
        at += ms;
      }
    });
    t += layer.wallMs;
  }
  return events;
}

/** Each device's slices where they happened, relative to the host's start of the pass; the host's pass is a track of its own. */
function timed(run: MeasuredRun, timeline: MeasuredTimeline, pid: number): TraceEvent[] {
  const devices = timeline.devices.length;
  const events = tracks(pid, 'measured pass (device timestamps)', devices);
  events.push({ name: 'thread_name', ph: 'M', pid, tid: devices, args: { name: 'host' } });
  const at = (t: number) => (t - timeline.startedAt) * US;
  events.push({ name: 'forward pass', cat: 'host', ph: 'X', pid, tid: devices, ts: 0, dur: at(timeline.endedAt), args: {} });
  timeline.devices.forEach((list, tid) => {
    for (const e of list) {
      const label = run.layers[e.layer]?.label ?? `layer ${e.layer}`;
      const name =
        e.kind === 'compute' ? label : e.kind === 'receive' ? `receive ${label} from ${e.peer}` : e.kind === 'send' ? `send ${label} to ${e.peer}` : `${e.kind} ${label}`;
      const cat = e.kind === 'compute' ? 'compute' : 'transfer';
      const args: Record<string, unknown> = { layer: label };
      if (e.bytes !== undefined) args.bytes = e.bytes;
      if (e.peer !== undefined) args[e.kind === 'send' ? 'to' : 'from'] = e.peer;
      events.push({ name, cat, ph: 'X', pid, tid, ts: at(e.start), dur: (e.end - e.start) * US, args });
    }
  });
  return events;
}

export function splitTrace(plan: SplitPlan, run?: MeasuredRun): { traceEvents: TraceEvent[]; displayTimeUnit: 'ms' } {
  const traceEvents = simulated(plan, 1);
  if (run) traceEvents.push(...(run.timeline ? timed(run, run.timeline, 2) : measured(run.layers, plan.devices, 2)));
  return { traceEvents, displayTimeUnit: 'ms' };
}
