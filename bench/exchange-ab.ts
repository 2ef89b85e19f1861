// How to move a piece between two device threads: a MessagePort with the
// buffer transferred (what the devices do), or a SharedArrayBuffer mailbox the
// receiver owns (the sender copies in and rings, the receiver waits on the
// word). Both copy twice, as the devices must: out of the sender's memory,
// into the receiver's. Two threads play ping-pong with pieces of AlexNet's
// exchange sizes at batch 8; a transfer is half a round trip. The mailbox is
// timed with the receiver blocked in Atomics.wait (the fastest it can be) and
// with Atomics.waitAsync (what a device would need to still hear the host's
// abort), and rung by a small port message instead (the device's wait for a
// message stays as it is). Variants alternate per round; medians of the rounds.
//
//   flock /tmp/groupconv-bench.lock npx tsx bench/exchange-ab.ts [--rounds 9] [--trips 200]
import { parseArgs } from 'node:util';
import { MessageChannel, Worker } from 'node:worker_threads';
import { median } from '../src/statistics.js';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '9' }, trips: { type: 'string', default: '200' } } });
const rounds = Number(values.rounds);
const trips = Number(values.trips);
const SIZES = [45.6, 64, 144, 189.1, 676].map((kib) => Math.round((kib * 1024) / 4)); // floats

// One player: receives `trips` pieces and answers each, copying every piece into its own buffer and out of it.
const PLAYER = `
const { parentPort, workerData } = require('node:worker_threads');
const { floats, mode, serve } = workerData;
const own = new Float32Array(floats);
let port, inbox, inboxSeq, outbox, outboxSeq;
parentPort.once('message', async (setup) => {
  ({ port, inbox, outbox } = setup);
  inboxSeq = new Int32Array(inbox.seq); outboxSeq = new Int32Array(outbox.seq);
  const inData = new Float32Array(inbox.data), outData = new Float32Array(outbox.data);
  // A port drops messages that arrive while it has no listener: keep one, and queue.
  const queued = [];
  let wake = null;
  port.on('message', (piece) => { queued.push(piece); if (wake) { const w = wake; wake = null; w(); } });
  const send = () => {
    if (mode === 'port') { const piece = own.slice(); port.postMessage(piece, [piece.buffer]); }
    else if (mode === 'notify') { outData.set(own); port.postMessage(1); }
    else { outData.set(own); Atomics.add(outboxSeq, 0, 1); Atomics.notify(outboxSeq, 0); }
  };
  let seen = 0;
  const receive = async () => {
    if (mode === 'port' || mode === 'notify') { if (!queued.length) await new Promise((r) => (wake = r)); const m = queued.shift(); own.set(mode === 'port' ? m : inData); return; }
    if (mode === 'wait') Atomics.wait(inboxSeq, 0, seen); else { const w = Atomics.waitAsync(inboxSeq, 0, seen); if (w.async) await w.value; }
    seen = Atomics.load(inboxSeq, 0);
    own.set(inData);
  };
  parentPort.postMessage('ready');
  const go = await new Promise((r) => parentPort.once('message', r));
  for (let i = 0; i < go; i++) {
    if (serve) { send(); await receive(); } else { await receive(); send(); }
  }
  parentPort.postMessage('done');
});
`;

type Mode = 'port' | 'wait' | 'async' | 'notify';
const MODES: Mode[] = ['port', 'wait', 'async', 'notify'];

function mailbox(floats: number) {
  return { seq: new SharedArrayBuffer(4), data: new SharedArrayBuffer(floats * 4) };
}

async function once(mode: Mode, floats: number): Promise<number> {
  const { port1, port2 } = new MessageChannel();
  const a = new Worker(PLAYER, { eval: true, workerData: { floats, mode, serve: true } });
  const b = new Worker(PLAYER, { eval: true, workerData: { floats, mode, serve: false } });
  for (const w of [a, b]) w.on('error', (error) => (console.error(error), process.exit(1)));
  const toA = mailbox(floats);
  const toB = mailbox(floats);
  const ready = (w: Worker) => new Promise((r) => w.once('message', r));
  const readyA = ready(a);
  const readyB = ready(b);
  a.postMessage({ port: port1, inbox: toA, outbox: toB }, [port1]);
  b.postMessage({ port: port2, inbox: toB, outbox: toA }, [port2]);
  await Promise.all([readyA, readyB]);
  const doneA = ready(a);
  const doneB = ready(b);
  const start = performance.now();
  b.postMessage(trips);
  a.postMessage(trips);
  await Promise.all([doneA, doneB]);
  const ms = performance.now() - start;
  await Promise.all([a.terminate(), b.terminate()]);
  return (ms / trips / 2) * 1000; // µs per transfer
}

console.log(`µs per transfer (copy out, move, copy in), median of ${rounds} alternated rounds of ${trips} round trips`);
console.log('KiB | port (transfer) | mailbox, Atomics.wait | mailbox, Atomics.waitAsync | mailbox, rung by a port message | wait / port | waitAsync / port | rung / port');
for (const floats of SIZES) {
  const times: Record<Mode, number[]> = { port: [], wait: [], async: [], notify: [] };
  for (let r = 0; r < rounds; r++) {
    const order = MODES.map((_, i) => MODES[(i + r) % MODES.length]);
    for (const mode of order) times[mode].push(await once(mode, floats));
  }
  const [port, wait, async, notify] = MODES.map((mode) => median(times[mode]));
  const f = (v: number) => v.toFixed(1);
  const ratio = (v: number) => (v / port).toFixed(2);
  console.log(`${((floats * 4) / 1024).toFixed(1)} | ${f(port)} | ${f(wait)} | ${f(async)} | ${f(notify)} | ${ratio(wait)} | ${ratio(async)} | ${ratio(notify)}`);
}
