// What the stage-level benchmarks (stage-scaling.ts, chain-tail.ts) share: a
// model's seeded input, and every engine program run's profile captured in
// order, by wrapping EngineProgram.run so the forward itself is unchanged.
import { EngineProgram, loadOnnx, zeros, type ProgramProfile, type Tensor } from '../../src/index.js';

/** The ONNX file at `path` and a shared input of `batch` images (the benchmarks' usual sine values). */
export function modelAndInput(path: string, batch: number): { model: ReturnType<typeof loadOnnx>; x: Tensor } {
  const model = loadOnnx(path);
  const shape = (model.inputs[0].shape ?? []).map((d, i) => (i === 0 ? batch : (d as number)));
  const x = zeros(shape, { shared: true });
  for (let i = 0; i < x.data.length; i++) x.data[i] = Math.sin(i * 0.37);
  return { model, x };
}

/** From now on, every program run's profile: `take()` returns those since the last take. */
export function captureProgramProfiles(): { take(): ProgramProfile[] } {
  let captured: ProgramProfile[] = [];
  const run = EngineProgram.prototype.run;
  EngineProgram.prototype.run = async function (this: EngineProgram, buffers, options) {
    const p = await run.call(this, buffers, { profile: true });
    captured.push(p!);
    return options?.profile ? p : null;
  };
  return {
    take() {
      const taken = captured;
      captured = [];
      return taken;
    },
  };
}
