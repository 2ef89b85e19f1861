// What a device worker holds and does. A device is a GPU with its own memory:
// in a device worker, sharedArena() is a WebAssembly memory that thread
// created and alone allocates in (src/memory/arena.ts), and everything the
// device holds lives there: its half of every layer's weights (convolutions
// packed once for the kernel), resident for the life of the model; its kernel
// plans; the activation share it computed last; the kernel's scratch while a
// layer runs. The image arrives from the host in shared memory, pieces from
// the other devices straight over a port per peer (peer-links.ts), and are
// copied in (the transfer); what it sends is copied out. Buffers are
// released as soon as a layer has consumed them, so the memory's peak is the
// working set the host budgets for (partition.ts deviceMemory).
// workers/device-worker.ts exposes one of these over comlink; tests can also
// drive one on the host thread.
import * as Comlink from 'comlink';
import { performance } from 'node:perf_hooks';
import {
  packConvWeights,
  planConv,
  planScratchFloats,
  releasePackedWeights,
  releasePlan,
  wasmKernelsAvailable,
  type KernelPlan,
  type PackedConvWeights,
} from '../kernels/plan/index.js';
import { configureKernels } from '../kernels/options.js';
import { sharedArena } from '../memory/arena.js';
import { numel } from '../tensor/tensor.js';
import { gather, rangeLength, rangeOf, type Activation, type Range } from './channel-range.js';
import { aliasesInput, pieceGeometry, pieceOutputShape, runPiece, runPieceInto, runsImageByImage, writesOverInput } from './compute.js';
import { placePieces } from './place-pieces.js';
import type { DevicePiece, LayerShapes } from './split-plan.js';
import type { PassScript } from './pass-script.js';
import { clock, linkMs, PeerLinks, usableAt, type Arrival, type LinkModel, type PeerPorts } from './peer-links.js';
import type { DeviceEvent } from '../split/trace.js';
import { errors } from '../errors.js';

export interface LayerTiming {
  /** Milliseconds spent computing the layer. */
  computeMs: number;
  /** Milliseconds spent assembling the input from the own share and received pieces. */
  assembleMs: number;
}

/** A layer's timing in a pass, with what it received from the other devices and the link time modelled for it. */
export interface PassLayerTiming extends LayerTiming {
  receivedBytes: number;
  linkMs: number;
}

/** One forward pass as the host asks it of a device: the image (shared memory, not copied by the message) and the device's script. */
export interface PassRequest {
  pass: number;
  key: string;
  image: Activation;
  script: PassScript;
}

export interface PassResult {
  timings: PassLayerTiming[];
  /** The pass's slices on this device, in absolute time. */
  events: DeviceEvent[];
  /** The device's share of the last layer's output. */
  logits: Activation;
  /** The most this device's memory has held so far. */
  peakBytes: number;
}

/** What connect gives a device: its index, a port to each peer, the word it shows its current layer in, and the link model. */
export interface DeviceLinks {
  device: number;
  peers: PeerPorts[];
  /** Int32Array over a SharedArrayBuffer the host reads: the layer this device is at, readable even after the device died. */
  status: Int32Array;
  link: LinkModel;
}

export interface DeviceLoadOptions {
  /** The kernels the host runs, so a device computes every element exactly as the host would. */
  kernels: 'wasm' | 'reference';
}

export interface DeviceStats {
  /** Bytes of weights held, resident since load (packed convolution weights included). */
  residentBytes: number;
  layers: number;
  /** This device's own memory: bytes live now, the most ever live, and its size. */
  memory: { liveBytes: number; peakBytes: number; capacityBytes: number };
  heapUsedBytes: number;
}

/** Kernel plans for one input shape of the model. */
interface Prepared {
  shapes: LayerShapes[];
  /** One per layer; null for layers without a convolution. */
  plans: (KernelPlan | null)[];
}

/** Input shapes whose plans a device keeps (their tap tables are small; the weights are shared). */
export const PREPARED_SHAPES = 4;
const EMPTY = new Float32Array(0);

/** Whether `outer` includes every channel of `inner`. */
const contains = (outer: Range, inner: Range): boolean => outer[0] <= inner[0] && inner[1] <= outer[1];

export class DeviceState {
  private readonly arena = sharedArena();
  /** The pieces, their weight and bias now views of this device's memory (conv weights that live packed: empty). */
  private pieces: DevicePiece[] = [];
  private packed: (PackedConvWeights | null)[] = [];
  private prepared = new Map<string, Prepared>();
  private activation: Activation | null = null;
  /** When the activation is the next layer's input laid out whole, its channels written so far (the own share); else null. */
  private filled: Range | null = null;
  private residentBytes = 0;
  private index = 0;
  private links: PeerLinks | null = null;
  private status: Int32Array | null = null;
  private link: LinkModel = { gbps: Infinity, latencyUs: 0 };

  /**
   * Places this device's pieces in its memory: each layer's weight rows and
   * bias, resident until dispose; a convolution's weights are packed once for
   * the WebAssembly kernel, which reads only that copy. The received buffers
   * are then dropped.
   */
  load(pieces: DevicePiece[], options: DeviceLoadOptions = { kernels: wasmKernelsAvailable() ? 'wasm' : 'reference' }): number {
    if (this.pieces.length) throw errors.deviceProtocol('device already loaded');
    if ((options.kernels === 'wasm') !== wasmKernelsAvailable()) configureKernels({ forceJs: options.kernels === 'reference' });
    const placed: DevicePiece[] = [];
    const packed: (PackedConvWeights | null)[] = [];
    const before = this.arena.stats().liveBytes;
    try {
      for (const piece of pieces) {
        let weight = piece.weight;
        let layerPacked: PackedConvWeights | null = null;
        if (weight && piece.op.kind === 'conv') layerPacked = packConvWeights(weight.shape, piece.op.groups, weight.data, { stride: piece.op.stride });
        packed.push(layerPacked);
        if (weight) weight = { shape: weight.shape, data: layerPacked ? EMPTY : this.copyIn(weight.data) };
        const bias = piece.bias && { shape: piece.bias.shape, data: this.copyIn(piece.bias.data) };
        placed.push({ ...piece, weight, bias });
      }
    } catch (error) {
      for (const p of packed) if (p) releasePackedWeights(p);
      for (const p of placed) this.releaseArrays(p.weight?.data, p.bias?.data);
      throw error;
    }
    this.pieces = placed;
    this.packed = packed;
    this.residentBytes = this.arena.stats().liveBytes - before;
    return this.residentBytes;
  }

  /**
   * Plans every convolution for one model input shape (`shapes`: each layer's
   * whole input and output), in this device's memory, reusing the packed
   * weights. Returns each layer's kernel (null for layers without one).
   */
  prepare(key: string, shapes: LayerShapes[]): (string | null)[] {
    let entry = this.prepared.get(key);
    if (!entry) {
      if (shapes.length !== this.pieces.length) throw errors.deviceProtocol(`prepare: ${shapes.length} layer shapes for ${this.pieces.length} layers`);
      if (this.prepared.size >= PREPARED_SHAPES) this.unprepare(this.prepared.keys().next().value!);
      const plans: (KernelPlan | null)[] = [];
      try {
        this.pieces.forEach((piece, layer) => {
          plans.push(piece.op.kind === 'conv' ? planConv(pieceGeometry(piece, shapes[layer].input), piece.weight!.data, this.packed[layer]) : null);
        });
      } catch (error) {
        for (const plan of plans) if (plan) releasePlan(plan);
        throw error;
      }
      entry = { shapes, plans };
      this.prepared.set(key, entry);
    }
    return entry.plans.map((plan) => plan?.kind ?? null);
  }

  /** The host's input image batch: every device gets all of it, copied into its memory. */
  setInput(input: Activation): void {
    this.clear();
    const data = this.allocateUnset(input.data.length);
    data.set(input.data);
    this.activation = { shape: [...input.shape], data, start: input.start };
  }

  /** Takes this device's ends of the links to its peers (see PeerLinks), and the host's status word. */
  connect(links: DeviceLinks): void {
    if (this.links) throw errors.deviceProtocol(`device ${this.index} is already connected`);
    this.index = links.device;
    this.status = links.status;
    this.link = links.link;
    this.links = new PeerLinks(links.device);
    this.links.connect(links.peers);
  }

  /**
   * One whole forward pass: takes the image, then goes through the script's
   * runs of layers, waiting before each for the pieces its peers post to it
   * (and the link model's delay), and posting after each the pieces they need
   * next, straight to them. Returns its logits, each layer's timing and the
   * pass's slices in absolute time.
   */
  async runPass({ pass, key, image, script }: PassRequest): Promise<PassResult> {
    const links = this.links;
    if (!links) throw errors.deviceProtocol('runPass: call connect first');
    links.begin(pass);
    const events: DeviceEvent[] = [];
    const t0 = clock();
    this.setInput(image);
    events.push({ kind: 'input', layer: 0, start: t0, end: clock(), bytes: image.data.byteLength });
    const timings: PassLayerTiming[] = [];
    for (let k = 0; k < script.runs.length; k++) {
      const { from, to, receive, send } = script.runs[k];
      let arrivals: Arrival[] = [];
      let receivedBytes = 0;
      let modelledMs = 0;
      if (receive.length) {
        this.mark(from);
        const peers = receive.map((r) => r.from);
        const aborted = () => errors.passAborted(this.index, this.pieces[from]?.name ?? `layer ${from}`, peers);
        const waitStart = clock();
        arrivals = await links.take(pass, from, peers, aborted);
        const wait = usableAt(arrivals, this.link) - clock();
        if (wait > 0) await links.delay(pass, wait, aborted);
        const end = clock();
        for (const a of arrivals) {
          const bytes = a.piece.data.byteLength;
          events.push({ kind: 'receive', layer: from, peer: a.from, start: waitStart, end, bytes });
          receivedBytes += bytes;
          modelledMs += linkMs(bytes, this.link);
        }
      }
      for (let layer = from; layer <= to; layer++) {
        const first = layer === from;
        let timing: LayerTiming & { at: number };
        try {
          timing = this.run(layer, first ? arrivals.map((a) => a.piece) : [], key);
        } finally {
          // The pieces are in this device's memory now (or the layer failed): their mailboxes can take the next.
          if (first) links.release(arrivals);
        }
        const start = timing.at;
        events.push({ kind: 'assemble', layer, start, end: start + timing.assembleMs });
        events.push({ kind: 'compute', layer, start: start + timing.assembleMs, end: start + timing.assembleMs + timing.computeMs });
        timings.push({ computeMs: timing.computeMs, assembleMs: timing.assembleMs, receivedBytes: first ? receivedBytes : 0, linkMs: first ? modelledMs : 0 });
      }
      // Posted as soon as the run ends: the peers go on while this device waits for its next pieces.
      const next = script.runs[k + 1]?.from ?? -1;
      for (const { to: peer, range } of send) {
        const start = clock();
        const own = this.activation!;
        const mailbox = links.mailbox(peer, (own.data.length / own.shape[1]) * (range[1] - range[0]));
        const piece = mailbox ? this.copyOut(range[0], range[1], mailbox) : this.copyOut(range[0], range[1]);
        const bytes = piece.data.byteLength;
        links.send(peer, { pass, layer: next, from: this.index, piece, inMailbox: mailbox !== null, sentAt: clock() });
        events.push({ kind: 'send', layer: next, peer, start, end: clock(), bytes });
      }
    }
    const t1 = clock();
    const logits = this.copyOut(script.result[0], script.result[1]);
    events.push({ kind: 'output', layer: timings.length - 1, start: t1, end: clock(), bytes: logits.data.byteLength });
    const peakBytes = this.arena.stats().peakBytes;
    return Comlink.transfer({ timings, events, logits, peakBytes }, [logits.data.buffer as ArrayBuffer]);
  }

  /** The host's word that a pass is over (another device failed): a wait for its pieces ends now. */
  abortPass(pass: number): void {
    this.links?.abort(pass);
  }

  /** Runs layer `layer` on the own share plus `received` (pieces from other devices); keeps the result, frees the input. */
  run(layer: number, received: Activation[], key: string): LayerTiming & { at: number } {
    this.mark(layer);
    const piece = this.pieces[layer];
    if (!piece) throw errors.deviceProtocol(`device has no layer ${layer}`);
    const own = this.activation;
    if (!own) throw errors.deviceProtocol('no input: call setInput first');
    const entry = this.prepared.get(key);
    if (!entry) throw errors.deviceProtocol(`no kernel plans for input shape ${key}: call prepare first`);
    const t0 = performance.now();
    const [lo, hi] = rangeOf(own);
    let input = own;
    if (this.filled) {
      // The layer before wrote the own share into this layer's input: only the received pieces are copied in.
      if (lo !== piece.needs[0] || hi !== piece.needs[1]) throw errors.deviceProtocol(`${piece.name} reads [${piece.needs}], not the [${lo}, ${hi}) laid out for it`);
      placePieces(own, this.filled, received);
      this.filled = null;
    } else if (lo !== piece.needs[0] || hi !== piece.needs[1]) {
      // The received pieces land here: the transfer into this device's memory.
      const channels = piece.needs[1] - piece.needs[0];
      // gather writes every channel of the range (it refuses pieces that leave one out).
      const buffer = this.allocateUnset((own.data.length / own.shape[1]) * channels);
      try {
        input = gather([own, ...received], piece.needs, buffer);
      } catch (error) {
        this.arena.release(buffer);
        throw error;
      }
      this.activation = input;
      this.arena.release(own.data);
    }
    const t1 = performance.now();
    const next = this.pieces[layer + 1];
    if (next && runsImageByImage(piece) && contains(next.needs, piece.produces) && rangeLength(next.needs) > rangeLength(piece.produces)) {
      this.runInto(piece, input, next.needs, pieceOutputShape(piece, entry.shapes[layer].output));
      return { computeMs: performance.now() - t1, assembleMs: t1 - t0, at: performance.timeOrigin + t0 };
    }
    const plan = entry.plans[layer];
    // Every layer's kernel writes its whole output, and a convolution its scratch before reading it, as in the engine.
    const out = aliasesInput(piece) ? null : writesOverInput(piece) ? input.data : this.allocateUnset(numel(pieceOutputShape(piece, entry.shapes[layer].output)));
    const scratchFloats = plan ? planScratchFloats(plan) : 0;
    const scratch = scratchFloats > 0 ? this.allocateUnset(scratchFloats) : null;
    let result: Activation;
    try {
      result = runPiece(piece, input, plan, scratch, out);
    } catch (error) {
      if (out && out !== input.data) this.arena.release(out);
      throw error;
    } finally {
      if (scratch) this.arena.release(scratch);
    }
    if (result.data !== input.data) this.arena.release(input.data);
    this.activation = result;
    const t2 = performance.now();
    return { computeMs: t2 - t1, assembleMs: t1 - t0, at: performance.timeOrigin + t0 };
  }

  /**
   * Runs `piece` (the last layer before an exchange: ReLU or max pooling) image
   * by image straight into the next layer's input, channels `needs` of shape
   * [N, channels, ...outputShape's planes], at its own channels; the pieces
   * the device receives fill the rest. Assembling that input then copies only
   * them: copying the own share again cost about 0.7 ms at lrn1, 0.45 ms at
   * lrn2 per device per pass at batch 8.
   */
  private runInto(piece: DevicePiece, input: Activation, needs: Range, outputShape: readonly number[]): void {
    const [N, , ...spatial] = outputShape;
    const plane = numel(spatial);
    const channels = rangeLength(needs);
    const buffer = this.allocateUnset(N * channels * plane);
    try {
      runPieceInto(piece, input, buffer, channels, piece.produces[0] - needs[0], plane);
    } catch (error) {
      this.arena.release(buffer);
      throw error;
    }
    this.arena.release(input.data);
    this.activation = { shape: [N, channels, ...spatial], data: buffer, start: needs[0] };
    this.filled = piece.produces;
  }

  /** Shows the layer this device is at in the host's status word: a failed pass is named by it, even when the device died. */
  private mark(layer: number): void {
    if (this.status) {
      Atomics.store(this.status, 0, layer);
      Atomics.notify(this.status, 0);
    }
  }

  /** Channels [start, end) of the share this device holds, copied out (into `into` when given: a peer's mailbox). */
  private copyOut(start: number, end: number, into?: Float32Array): Activation {
    if (!this.activation) throw errors.deviceProtocol('no activation to read');
    const held = this.filled ?? rangeOf(this.activation);
    if (!contains(held, [start, end])) throw errors.deviceProtocol(`device holds channels [${held}], not [${start}, ${end})`);
    return gather([this.activation], [start, end], into);
  }

  /** Frees the activation (weights and plans stay). */
  clear(): void {
    if (this.activation) this.arena.release(this.activation.data);
    this.activation = null;
    this.filled = null;
  }

  /** Frees everything this device placed in its memory: activation, plans, weights; closes its links. */
  dispose(): void {
    this.clear();
    this.links?.close();
    this.links = null;
    for (const key of [...this.prepared.keys()]) this.unprepare(key);
    for (const p of this.packed) if (p) releasePackedWeights(p);
    for (const p of this.pieces) this.releaseArrays(p.weight?.data, p.bias?.data);
    this.pieces = [];
    this.packed = [];
    this.residentBytes = 0;
  }

  stats(): DeviceStats {
    const { liveBytes, peakBytes, capacityBytes } = this.arena.stats();
    return {
      residentBytes: this.residentBytes,
      layers: this.pieces.length,
      memory: { liveBytes, peakBytes, capacityBytes },
      heapUsedBytes: process.memoryUsage().heapUsed,
    };
  }

  private unprepare(key: string): void {
    const entry = this.prepared.get(key);
    if (!entry) return;
    this.prepared.delete(key);
    for (const plan of entry.plans) if (plan) releasePlan(plan);
  }

  /** `floats` values in this device's memory (zeroed; freed by release, or when dropped and collected). */
  private allocate(floats: number): Float32Array {
    return this.arena.allocateFloat32(floats);
  }

  /**
   * `floats` values in this device's memory, holding whatever the block held
   * before: for buffers written in full before they are read. Zeroing a pass's
   * activations first was a second write over each of them (about 45 MB per
   * device per pass at batch 8 on 2 devices, 90 MB on 1).
   */
  private allocateUnset(floats: number): Float32Array {
    return this.arena.allocateFloat32(floats, { zero: false });
  }

  private copyIn(values: Float32Array): Float32Array {
    const data = this.allocate(values.length);
    data.set(values);
    return data;
  }

  private releaseArrays(...arrays: (Float32Array | undefined)[]): void {
    // EMPTY (conv weights that live packed) is not this memory's: release skips it.
    for (const array of arrays) if (array) this.arena.release(array);
  }
}
