// Per-thread CPU time of whole-model forwards, this tree against another
// checkout, at 1 and 2 workers: what a loaded machine distorts least. Wall time
// on a machine shared with other jobs mostly measures the others; the CPU time
// each engine worker spends per forward (from /proc/self/task/*/stat, Linux
// only) barely changes with load. On a quiet machine a forward takes about
// its busiest worker's CPU time (workers run flat out but for barrier waits),
// so busiest@1 / busiest@2 estimates the 2-worker speedup there. Also prints
// the wall-time medians and ratios, as program-ab.ts does, for reference.
//
//   npx tsx bench/program-cpu-ab.ts --before /tmp/scale-base --model /tmp/onnx2-full/mobilenet_v2.onnx --batch 8 --rounds 5 --runs 6
import { readdirSync, readFileSync } from 'node:fs';
import { median } from '../src/statistics.js';
import { modelAbArgs, setUpVariants } from './model-ab-args.js';

const args = await modelAbArgs({ rounds: 5, runs: 6 });
const { rounds, runs } = args;
/** Clock ticks per second of /proc's utime and stime (USER_HZ, 100 on Linux). */
const TICKS_PER_SECOND = 100;

/** CPU ms per thread of this process, by thread id. */
function threadCpu(): Map<number, number> {
  const cpu = new Map<number, number>();
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      // Fields after the command (which may hold spaces), from field 3 on: utime is field 14, stime 15.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      cpu.set(Number(tid), ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND);
    } catch {
      // The thread ended meanwhile.
    }
  }
  return cpu;
}

const setups = await setUpVariants(args);


const mainTid = process.pid;
type Sample = { wall: number; busiest: number; workersTotal: number; main: number };
const samples: Record<string, Sample[][]> = { before: [[], []], after: [[], []] };
for (let round = 0; round < rounds; round++) {
  const order = round % 2 === 0 ? setups : [...setups].reverse();
  for (const s of order) {
    for (const [w, engine] of s.engines.entries()) {
      await s.model.forwardWith(engine, s.x); // warm
      const before = threadCpu();
      const start = performance.now();
      for (let r = 0; r < runs; r++) await s.model.forwardWith(engine, s.x);
      const wall = (performance.now() - start) / runs;
      const after = threadCpu();
      const deltas = [...after].map(([tid, ms]) => ({ tid, ms: (ms - (before.get(tid) ?? 0)) / runs }));
      const main = deltas.find((d) => d.tid === mainTid)?.ms ?? 0;
      // The engine's workers are the busiest threads besides the main one.
      const workers = deltas.filter((d) => d.tid !== mainTid).sort((a, b) => b.ms - a.ms).slice(0, w + 1);
      samples[s.name][w].push({ wall, busiest: workers[0].ms, workersTotal: workers.reduce((n, d) => n + d.ms, 0), main });
    }
  }
}

const med = (list: Sample[], key: keyof Sample) => median(list.map((s) => s[key]));
for (const s of setups) {
  const [one, two] = samples[s.name];
  console.log(
    `${s.name}: wall ${med(one, 'wall').toFixed(1)} ms @1, ${med(two, 'wall').toFixed(1)} ms @2 (${(med(one, 'wall') / med(two, 'wall')).toFixed(2)}x); ` +
      `worker CPU per forward: busiest ${med(one, 'busiest').toFixed(1)} @1, ${med(two, 'busiest').toFixed(1)} @2 (both ${med(two, 'workersTotal').toFixed(1)}); main thread ${med(one, 'main').toFixed(1)} @1, ${med(two, 'main').toFixed(1)} @2; ` +
      `quiet-machine estimate busiest@1 / busiest@2: ${(med(one, 'busiest') / med(two, 'busiest')).toFixed(2)}x`,
  );
}
for (const w of [0, 1]) {
  const ratios = samples.before[w].map((b, i) => b.wall / samples.after[w][i].wall);
  const cpuRatios = samples.before[w].map((b, i) => b.busiest / samples.after[w][i].busiest);
  console.log(`after over before @${w + 1}: wall median ${median(ratios).toFixed(2)}x (${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)}), busiest worker CPU median ${median(cpuRatios).toFixed(2)}x over ${rounds} rounds`);
}
for (const s of setups) {
  s.model.close();
  await Promise.all(s.engines.map((e) => e.close()));
}
