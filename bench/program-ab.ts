// A/B of whole-model forwards in one process: this tree's OnnxModel.forwardWith
// against another checkout's (say, the commit before engine programs), each
// with its own arena and engines, the variants alternated round by round so
// both see the same machine load. Prints per variant the median images/s at 1
// and 2 workers, and the medians of the per-round ratios; also the process's CPU
// time per forward (every thread's, process.cpuUsage), which a loaded machine
// inflates far less than wall time.
//
//   npx tsx bench/program-ab.ts --before /tmp/h1-before --model /tmp/onnx2-full/mobilenet_v2.onnx --batch 8 --rounds 7 [--calling-thread] [--pause 20] [--rounding-changed]
//
// --pause MS: each timed call after a pause and one untimed call, as bench:peers
// calls (a request at a time: the workers have parked and their cores idled).
//
// (--before: a checkout with node_modules, e.g. `git archive <commit> | tar -x -C DIR`
// and a node_modules symlink.)
import { setTimeout as sleep } from 'node:timers/promises';
import { median } from '../src/statistics.js';
import { modelAbArgs, setUpVariants } from './model-ab-args.js';

const args = await modelAbArgs({ rounds: 7, runs: 3 });
const { batch, rounds, runs, pauseMs } = args;

const setups = await setUpVariants(args);


const ms: Record<string, number[][]> = { before: [[], []], after: [[], []] };
const cpu: Record<string, number[][]> = { before: [[], []], after: [[], []] };
for (let round = 0; round < rounds; round++) {
  const order = round % 2 === 0 ? setups : [...setups].reverse();
  for (const s of order) {
    for (const [w, engine] of s.engines.entries()) {
      await s.model.forwardWith(engine, s.x); // warm: plans, layers, parked runners
      const times: number[] = [];
      const cpuTimes: number[] = [];
      for (let r = 0; r < runs; r++) {
        if (pauseMs > 0) {
          await sleep(pauseMs);
          await s.model.forwardWith(engine, s.x);
        }
        const start = performance.now();
        const cpuStart = process.cpuUsage();
        await s.model.forwardWith(engine, s.x);
        const used = process.cpuUsage(cpuStart);
        times.push(performance.now() - start);
        cpuTimes.push((used.user + used.system) / 1000);
      }
      ms[s.name][w].push(median(times));
      cpu[s.name][w].push(median(cpuTimes));
    }
  }
}

const ips = (t: number) => (batch * 1000) / t;
for (const s of setups) {
  const [one, two] = ms[s.name];
  const speedups = one.map((t, i) => t / two[i]);
  console.log(
    `${s.name}: ${ips(median(one)).toFixed(1)} img/s @1, ${ips(median(two)).toFixed(1)} img/s @2; 2 over 1 per round: median ${median(speedups).toFixed(2)}x (${Math.min(...speedups).toFixed(2)}-${Math.max(...speedups).toFixed(2)})`,
  );
}
for (const w of [0, 1]) {
  const ratios = ms.before[w].map((t, i) => t / ms.after[w][i]);
  console.log(`after over before @${w + 1}: median ${median(ratios).toFixed(2)}x (${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)}) over ${rounds} rounds`);
}
for (const s of setups) console.log(`${s.name}: CPU ms per forward (all threads) ${median(cpu[s.name][0]).toFixed(1)} @1, ${median(cpu[s.name][1]).toFixed(1)} @2`);
for (const s of setups) {
  s.model.close();
  await Promise.all(s.engines.map((e) => e.close()));
}
