import { errors } from '../errors.js';
import { checkTensor, numel, type Tensor } from '../tensor/tensor.js';
import type { ConvRunner } from './conv-runner.js';

export type StateDict = Record<string, Tensor>;

/**
 * Base of every layer and model, like torch.nn.Module: parameters, buffers and
 * child modules registered by name, so that state_dict keys are PyTorch's
 * (`features.0.weight`, `bn3.running_var`, ...).
 */
export abstract class Module {
  /** The forward pass on this thread. */
  abstract forward(x: Tensor): Tensor;

  /**
   * The same forward pass with every convolution sent to `runner` (e.g. a
   * GroupedConvEngine). Layers without convolutions compute on this thread;
   * containers and models override it to route their children.
   */
  async forwardWith(_runner: ConvRunner, x: Tensor): Promise<Tensor> {
    return this.forward(x);
  }

  private readonly parametersByName = new Map<string, Tensor | null>();
  private readonly buffersByName = new Map<string, Tensor>();
  private readonly children = new Map<string, Module>();

  protected registerParameter(name: string, value: Tensor | null): void {
    this.parametersByName.set(name, value);
  }

  protected registerBuffer(name: string, value: Tensor): void {
    this.buffersByName.set(name, value);
  }

  protected registerModule<M extends Module>(name: string, module: M): M {
    this.children.set(name, module);
    return module;
  }

  /** Direct children, by name, in registration order. */
  namedChildren(): [string, Module][] {
    return [...this.children];
  }

  /** Parameters of this module and its children, with dotted names, as PyTorch orders them. */
  namedParameters(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [name, value] of this.parametersByName) if (value) out.push([prefix + name, value]);
    for (const [name, child] of this.children) out.push(...child.namedParameters(`${prefix}${name}.`));
    return out;
  }

  namedBuffers(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [name, value] of this.buffersByName) out.push([prefix + name, value]);
    for (const [name, child] of this.children) out.push(...child.namedBuffers(`${prefix}${name}.`));
    return out;
  }

  /** Number of learnable values: PyTorch's sum(p.numel() for p in m.parameters()). */
  parameterCount(): number {
    return this.namedParameters().reduce((sum, [, t]) => sum + numel(t.shape), 0);
  }

  /** Parameters and buffers by PyTorch state_dict name (the tensors themselves, not copies). */
  stateDict(): StateDict {
    const out: StateDict = {};
    const visit = (module: Module, prefix: string) => {
      for (const [name, value] of module.parametersByName) if (value) out[prefix + name] = value;
      for (const [name, value] of module.buffersByName) out[prefix + name] = value;
      for (const [name, child] of module.children) visit(child, `${prefix}${name}.`);
    };
    visit(this, '');
    return out;
  }

  /**
   * Copies tensors into the model by PyTorch state_dict name. Fails, changing
   * nothing, on a missing, unexpected or mis-shaped tensor. BatchNorm's
   * `num_batches_tracked` is accepted and ignored.
   */
  loadStateDict(tensors: StateDict): void {
    if (tensors === null || typeof tensors !== 'object') throw errors.invalid('tensors', 'expected an object mapping names to tensors');
    const own = this.stateDict();
    const missing = Object.keys(own).filter((k) => !(k in tensors));
    const unexpected = Object.keys(tensors).filter((k) => !(k in own) && !k.endsWith('num_batches_tracked'));
    if (missing.length || unexpected.length) {
      const parts = [];
      if (missing.length) parts.push(`missing: ${missing.join(', ')}`);
      if (unexpected.length) parts.push(`unexpected: ${unexpected.join(', ')}`);
      throw errors.invalid('tensors', `state_dict does not match the model (${parts.join('; ')})`);
    }
    for (const [name, target] of Object.entries(own)) {
      const source = checkTensor(`tensors['${name}']`, tensors[name]);
      if (source.shape.length !== target.shape.length || source.shape.some((d, i) => d !== target.shape[i])) {
        throw errors.shapeMismatch(`tensors['${name}']`, target.shape, source.shape);
      }
    }
    for (const [name, target] of Object.entries(own)) target.data.set(tensors[name].data);
  }
}
