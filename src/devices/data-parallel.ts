// The split planner's `data` plan run on devices: every device holds the whole
// model (a one-device split each) and computes its share of the images; the
// logits are the shares' concatenated. Nothing crosses between devices. Each
// image goes through the same pieces, kernels and summation order as on one
// device, so the logits are the same bits.
import { errors } from '../errors.js';
import type { AlexNet } from '../models/alexnet.js';
import { planSplit } from '../split/plan-split.js';
import { share } from '../split/ranges.js';
import { checkTensor, type Tensor } from '../tensor/tensor.js';
import { alexNetInputSize, formatBytes, GTX580_BYTES, SplitAlexNet } from './split-model.js';

export interface DataParallelOptions {
  devices?: number;
  /** Batch the budget is checked for at load. Default 1. */
  batch?: number;
  budgetBytes?: number;
}

export class DataParallelAlexNet {
  private constructor(private readonly replicas: SplitAlexNet[]) {}

  get deviceCount(): number {
    return this.replicas.length;
  }

  /** Starts one device per replica; refuses, before any thread starts, a model whose replica does not fit the budget. */
  static async create(model: AlexNet, options: DataParallelOptions = {}): Promise<DataParallelAlexNet> {
    const devices = options.devices ?? 2;
    const batch = options.batch ?? 1;
    const budgetBytes = options.budgetBytes ?? GTX580_BYTES;
    const side = alexNetInputSize(model.config.pooled);
    const plan = planSplit(model, { devices, strategy: 'data', batch, inputShape: [3, side, side], budgetBytes });
    if (!plan.fits) {
      throw errors.deviceMemory(
        `AlexNet at batch ${batch} does not fit ${devices} data-parallel devices of ${formatBytes(budgetBytes)}: each holds the whole model, ` +
          plan.memory.map((m) => `device ${m.device} needs ${formatBytes(m.totalBytes)}`).join('; '),
        plan.memory.map((m) => m.totalBytes),
        budgetBytes,
      );
    }
    const replicas: SplitAlexNet[] = [];
    try {
      for (let d = 0; d < devices; d++) {
        const [start, end] = share(batch, devices, d);
        replicas.push(await SplitAlexNet.create(model, { devices: 1, batch: Math.max(1, end - start), budgetBytes }));
      }
    } catch (error) {
      await Promise.all(replicas.map((r) => r.close()));
      throw error;
    }
    return new DataParallelAlexNet(replicas);
  }

  /** Logits [N, classes]: device d computes images share(N, devices, d). */
  async forward(x: Tensor): Promise<Tensor> {
    checkTensor('x', x, [4]);
    const [N, C, H, W] = x.shape;
    if (N < this.replicas.length) throw errors.invalid('x.shape', `a batch of ${N} cannot feed ${this.replicas.length} data-parallel devices`);
    const image = C * H * W;
    const parts = await Promise.all(
      this.replicas.map((replica, d) => {
        const [start, end] = share(N, this.replicas.length, d);
        return replica.forward({ shape: [end - start, C, H, W], data: x.data.subarray(start * image, end * image) });
      }),
    );
    const classes = parts[0].shape[1];
    const data = new Float32Array(N * classes);
    let offset = 0;
    for (const part of parts) {
      data.set(part.data, offset);
      offset += part.data.length;
    }
    return { shape: [N, classes], data };
  }

  async close(): Promise<void> {
    await Promise.all(this.replicas.map((r) => r.close()));
  }
}
