// A device's direct links to the other devices: one MessagePort per peer (the
// host made a MessageChannel per pair and handed each end to its device), so
// an exchanged piece goes from device to device without a round trip through
// the host. A piece is written into a mailbox the receiver owns (a
// SharedArrayBuffer per ordered pair, sized at set-up for the batch given
// then) and rung with a small port message; one that does not fit, or finds
// the mailbox still holding the previous piece, moves its own buffer over the
// port instead. Moving a fresh buffer costs 0.2-2 ms per piece against
// 0.04-0.2 ms for the mailbox (bench/exchange-ab.ts). Pieces arrive whenever the sender posts them and wait in an inbox
// until this device asks for them; the host can abort a pass, which ends a
// wait for a piece that will never come (its sender died or threw), or the
// link delay being waited out.
import { performance } from 'node:perf_hooks';
import type { MessagePort } from 'node:worker_threads';
import { errors } from '../errors.js';
import type { Activation } from './channel-range.js';

/** Absolute time in ms: comparable across the host and every device thread. */
export const clock = (): number => performance.timeOrigin + performance.now();

/** A piece of an activation on its way to the device that runs `layer` next. */
export interface PieceMessage {
  pass: number;
  layer: number;
  from: number;
  /** The piece, or only its shape and first channel when its values are in the receiver's mailbox (data empty). */
  piece: Activation;
  inMailbox: boolean;
  /** When the sender posted it (absolute ms). */
  sentAt: number;
}

export interface Arrival extends PieceMessage {
  /** When this device's thread took it off its port (absolute ms). */
  arrivedAt: number;
}

/** A mailbox: an Int32 word (1 while it holds a piece not yet used), then the values from byte 64. */
const MAILBOX_DATA = 64;
export function mailboxBytes(floats: number): number {
  return MAILBOX_DATA + floats * 4;
}

export interface PeerPorts {
  device: number;
  port: MessagePort;
  /** The mailbox this device receives the peer's pieces in, and the peer's it writes to. */
  inbox: SharedArrayBuffer;
  outbox: SharedArrayBuffer;
}

interface Peer {
  port: MessagePort;
  inbox: SharedArrayBuffer;
  inboxFull: Int32Array;
  outbox: SharedArrayBuffer;
  outboxFull: Int32Array;
}

/** The simulated link: each transfer waits its latency plus its bytes over the bandwidth. */
export interface LinkModel {
  gbps: number;
  latencyUs: number;
}

export function linkMs(bytes: number, link: LinkModel): number {
  const bandwidthMs = Number.isFinite(link.gbps) ? ((bytes * 8) / (link.gbps * 1e9)) * 1000 : 0;
  return bandwidthMs + link.latencyUs / 1000;
}

/**
 * When the pieces can be used under the link model: the link into a device
 * carries one piece at a time, each from when it was sent.
 */
export function usableAt(arrivals: readonly Arrival[], link: LinkModel): number {
  let t = -Infinity;
  for (const a of [...arrivals].sort((x, y) => x.sentAt - y.sentAt)) t = Math.max(t, a.sentAt) + linkMs(a.piece.data.byteLength, link);
  return t;
}

interface Waiter {
  pass: number;
  keys: string[];
  resolve: (arrivals: Arrival[]) => void;
  reject: (error: Error) => void;
}

const keyOf = (pass: number, layer: number, from: number) => `${pass}:${layer}:${from}`;

export class PeerLinks {
  private readonly ports = new Map<number, Peer>();
  private readonly inbox = new Map<string, Arrival>();
  private waiter: Waiter | null = null;
  private sleeper: { pass: number; stop: () => void } | null = null;
  private pass = 0;
  private abortedPass = -1;
  private abortReason: (() => Error) | null = null;

  constructor(private readonly device: number) {}

  connect(peers: readonly PeerPorts[]): void {
    for (const { device, port, inbox, outbox } of peers) {
      this.ports.set(device, { port, inbox, inboxFull: new Int32Array(inbox, 0, 1), outbox, outboxFull: new Int32Array(outbox, 0, 1) });
      // Listening from the start: a port drops what arrives while nothing listens.
      port.on('message', (message: PieceMessage) => this.deliver(message));
    }
  }

  /** A new pass: pieces left from an earlier (aborted) one are dropped, their mailboxes freed. */
  begin(pass: number): void {
    this.pass = pass;
    for (const [key, arrival] of this.inbox) {
      if (arrival.pass >= pass) continue;
      this.inbox.delete(key);
      this.release([arrival]);
    }
  }

  /** Where to write `floats` values for peer `to`: its mailbox when free and large enough, else null (send them in a buffer of their own). */
  mailbox(to: number, floats: number): Float32Array | null {
    const peer = this.peer(to);
    if (mailboxBytes(floats) > peer.outbox.byteLength || Atomics.load(peer.outboxFull, 0) !== 0) return null;
    return new Float32Array(peer.outbox, MAILBOX_DATA, floats);
  }

  /** Posts a piece to a peer: rings its mailbox (the values written there by way of mailbox()), or moves the piece's own buffer. */
  send(to: number, message: PieceMessage): void {
    const peer = this.peer(to);
    if (message.inMailbox) {
      Atomics.store(peer.outboxFull, 0, 1);
      peer.port.postMessage({ ...message, piece: { ...message.piece, data: new Float32Array(0) } });
    } else peer.port.postMessage(message, [message.piece.data.buffer as ArrayBuffer]);
  }

  /** The pieces have been copied into this device's memory: their mailboxes can take the next ones. */
  release(arrivals: readonly Arrival[]): void {
    for (const a of arrivals) if (a.inMailbox) Atomics.store(this.peer(a.from).inboxFull, 0, 0);
  }

  private peer(device: number): Peer {
    const peer = this.ports.get(device);
    if (!peer) throw errors.peerUnknown(this.device, device);
    return peer;
  }

  /** The pieces of `pass` for `layer` from each of `from`, once all have arrived; rejects when the host aborts the pass. */
  take(pass: number, layer: number, from: readonly number[], aborted: () => Error): Promise<Arrival[]> {
    for (const peer of from) if (!this.ports.has(peer)) return Promise.reject(errors.peerUnknown(this.device, peer));
    if (this.abortedPass === pass) return Promise.reject(aborted());
    const keys = from.map((peer) => keyOf(pass, layer, peer));
    return new Promise<Arrival[]>((resolve, reject) => {
      this.waiter = { pass, keys, resolve, reject };
      this.abortReason = aborted;
      this.settle();
    });
  }

  /** Waits `ms` (the link model's delay) unless the host aborts the pass meanwhile. */
  delay(pass: number, ms: number, aborted: () => Error): Promise<void> {
    if (this.abortedPass === pass) return Promise.reject(aborted());
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.sleeper = null;
        resolve();
      }, ms);
      this.sleeper = { pass, stop: () => (clearTimeout(timer), reject(aborted())) };
    });
  }

  /** Ends the pass: a wait for its pieces (or their link delay) rejects now, a later one at once. */
  abort(pass: number): void {
    this.abortedPass = pass;
    const waiter = this.waiter;
    if (waiter && waiter.pass === pass) {
      this.waiter = null;
      waiter.reject(this.abortReason!());
    }
    const sleeper = this.sleeper;
    if (sleeper && sleeper.pass === pass) {
      this.sleeper = null;
      sleeper.stop();
    }
  }

  close(): void {
    for (const peer of this.ports.values()) peer.port.close();
    this.ports.clear();
    this.inbox.clear();
  }

  private deliver(message: PieceMessage): void {
    const arrival: Arrival = { ...message, arrivedAt: clock() };
    if (message.inMailbox) {
      const { shape } = message.piece;
      const floats = shape.reduce((a, b) => a * b, 1);
      arrival.piece = { ...message.piece, data: new Float32Array(this.peer(message.from).inbox, MAILBOX_DATA, floats) };
    }
    if (message.pass < this.pass) return this.release([arrival]); // from an aborted pass
    this.inbox.set(keyOf(message.pass, message.layer, message.from), arrival);
    this.settle();
  }

  private settle(): void {
    const waiter = this.waiter;
    if (!waiter || !waiter.keys.every((key) => this.inbox.has(key))) return;
    this.waiter = null;
    const arrivals = waiter.keys.map((key) => this.inbox.get(key)!);
    for (const key of waiter.keys) this.inbox.delete(key);
    waiter.resolve(arrivals);
  }
}
