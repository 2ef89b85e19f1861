// A convolution step's shape label and class, as the per-layer benchmarks
// (layer-gflops.ts, peers/layers-vs-ort.ts) group and print them.

/** What the label needs of an engine step (either tree's, in the A/B scripts). */
export interface ConvStepShape {
  layer: { weight: { shape: readonly number[] } };
  setup: { options: { stride: readonly number[]; groups: number }; outputShape: readonly number[] };
}

/** '144->24 1x1/1 g1 56x56' and its class: pointwise (grouped), depthwise KxK/S, grouped KxK/S or dense KxK/S. */
export function convShape(step: ConvStepShape): { label: string; cls: string } {
  const [cout, cinG, kh, kw] = step.layer.weight.shape;
  const { stride, groups } = step.setup.options;
  const [, , oh, ow] = step.setup.outputShape;
  const cls = kh === 1 && kw === 1 ? (groups === 1 ? 'pointwise' : 'pointwise grouped')
    : cinG === 1 ? `depthwise ${kh}x${kw}/${stride[0]}`
    : groups > 1 ? `grouped ${kh}x${kw}/${stride[0]}` : `dense ${kh}x${kw}/${stride[0]}`;
  return { label: `${cinG * groups}->${cout} ${kh}x${kw}/${stride[0]} g${groups} ${oh}x${ow}`, cls };
}
