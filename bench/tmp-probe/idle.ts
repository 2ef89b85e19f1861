import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
const st = () => readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ').map(Number);
const a = st(); for (let i = 0; i < 200; i++) await sleep(18); const b = st();
console.log('idle main run per 18ms (ms)', ((b[0] - a[0]) / 1e6 / 200).toFixed(3), 'wait', ((b[1] - a[1]) / 1e6 / 200).toFixed(3), 'slices', (b[2] - a[2]) / 200);
