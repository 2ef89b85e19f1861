// What a device worker holds and does: its half of every layer's weights,
// resident for the life of the model, the activation share it computed last,
// and the kernel plans the host made for each input shape. workers/device-worker.ts
// exposes one of these over comlink; tests can also drive one on the host.
import * as Comlink from 'comlink';
import { performance } from 'node:perf_hooks';
import type { KernelPlan } from '../kernels/plan.js';
import { arenaView } from '../memory/arena.js';
import { gather, overlap, rangeOf, type Activation } from './activation.js';
import { runPiece } from './compute.js';
import type { DevicePiece } from './partition.js';

/** Where a plan's scratch memory lives in the shared arena (allocated by the host). */
export interface ScratchLocation {
  byteOffset: number;
  length: number;
}

export interface LayerTiming {
  /** Milliseconds spent computing the layer. */
  computeMs: number;
  /** Milliseconds spent assembling the input from the own share and received pieces. */
  assembleMs: number;
}

export class DeviceState {
  private pieces: DevicePiece[] = [];
  private plans = new Map<string, { plans: (KernelPlan | null)[]; scratch: (ScratchLocation | null)[] }>();
  private activation: Activation | null = null;
  private residentBytes = 0;

  /** Takes ownership of this device's pieces (their weight buffers are transferred here). */
  load(pieces: DevicePiece[]): number {
    this.pieces = pieces;
    this.residentBytes = pieces.reduce((sum, p) => sum + (p.weight?.data.byteLength ?? 0) + (p.bias?.data.byteLength ?? 0), 0);
    return this.residentBytes;
  }

  /** Kernel plans (and scratch) for one input shape, one entry per layer (null for layers without a convolution). */
  setPlans(key: string, plans: (KernelPlan | null)[], scratch: (ScratchLocation | null)[]): void {
    this.plans.set(key, { plans, scratch });
  }

  dropPlans(key: string): void {
    this.plans.delete(key);
  }

  /** The host's input image batch: every device gets all of it. */
  setInput(input: Activation): void {
    this.activation = input;
  }

  /** Runs layer `layer` on the own share plus `received` (pieces from other devices); keeps the result. */
  run(layer: number, received: Activation[], planKey: string): LayerTiming {
    const piece = this.pieces[layer];
    if (!piece) throw new Error(`device has no layer ${layer}`);
    if (!this.activation) throw new Error('no input: call setInput first');
    const t0 = performance.now();
    const own = this.activation;
    const [lo, hi] = rangeOf(own);
    const input = lo === piece.needs[0] && hi === piece.needs[1] ? own : gather([own, ...received], piece.needs);
    const t1 = performance.now();
    let plan: KernelPlan | null = null;
    let scratch: Float32Array | null = null;
    if (piece.op.kind === 'conv') {
      const entry = this.plans.get(planKey);
      if (!entry) throw new Error(`no kernel plans for input shape ${planKey}`);
      plan = entry.plans[layer];
      const where = entry.scratch[layer];
      scratch = where ? arenaView(where.byteOffset, where.length) : null;
    }
    this.activation = runPiece(piece, input, plan, scratch);
    const t2 = performance.now();
    return { computeMs: t2 - t1, assembleMs: t1 - t0 };
  }

  /** A copy of channels [start, end) of the share this device holds (sent to another device or the host). */
  read(start: number, end: number): Activation {
    if (!this.activation) throw new Error('no activation to read');
    if (!overlap(rangeOf(this.activation), [start, end])) throw new Error(`device holds channels [${rangeOf(this.activation)}], not [${start}, ${end})`);
    const piece = gather([this.activation], [start, end]);
    return Comlink.transfer(piece, [piece.data.buffer]);
  }

  /** Drops the activation (weights stay resident). */
  clear(): void {
    this.activation = null;
  }

  stats(): { residentBytes: number; layers: number; heapUsedBytes: number } {
    return { residentBytes: this.residentBytes, layers: this.pieces.length, heapUsedBytes: process.memoryUsage().heapUsed };
  }
}
