// What new memory costs on this machine: 64 MiB of new Float32Array touched
// once per 4 KiB page, then touched again. On the VM the benchmarks run on,
// freed pages go back to the host, so every first touch is a fault the host
// serves; the ratio says how much an op pays for writing into new memory
// instead of memory it already holds (src/onnx/arena-values.ts).
//   node bench/first-touch.mjs
const rounds = 6;
const floats = 16 * 1024 * 1024;
const first = [];
const again = [];
for (let r = 0; r < rounds; r++) {
  let t = performance.now();
  const a = new Float32Array(floats);
  for (let i = 0; i < floats; i += 1024) a[i] = 1;
  first.push(performance.now() - t);
  t = performance.now();
  for (let i = 0; i < floats; i += 1024) a[i] = 2;
  again.push(performance.now() - t);
}
const median = (v) => [...v].sort((x, y) => x - y)[v.length >> 1];
const pages = (floats * 4) / 4096;
console.log(`64 MiB, ${pages} pages: first touch ${median(first).toFixed(1)} ms (${((median(first) * 1000) / pages).toFixed(1)} us a page), again ${median(again).toFixed(2)} ms; median of ${rounds}`);
