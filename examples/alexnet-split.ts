// AlexNet on two simulated GTX 580s, as Krizhevsky, Sutskever and Hinton ran it
// in 2012: each device (a worker thread) holds half of every layer's weights,
// and activations cross between devices only at the LRN halos, conv3 and the
// fully connected layers. Prints the per-layer report and the speedup over one
// device.
//
//   npx tsx examples/alexnet-split.ts [batch]
//
// The budget is 0.2 GiB per device, so the story of the paper plays out: one
// device cannot hold the model (the refusal is quoted, and the one-device
// baseline runs with the budget lifted), two can.
import { formatSplitReport, runAlexNetSplit } from '../src/index.js';

const batch = Number(process.argv[2] ?? 2);
const report = await runAlexNetSplit({
  devices: 2,
  batch,
  budgetBytes: 0.2 * 2 ** 30,
  log: (line) => console.error(line),
});
console.log(formatSplitReport(report));
