// Every error groupconv raises is built here, so messages stay consistent and
// callers can tell argument mistakes (ArgumentError, with the argument's name)
// from failures while running (ExecutionError).

export class ArgumentError extends TypeError {
  /** Name of the offending argument, e.g. 'groups' or 'weight.shape'. */
  readonly argument: string;
  constructor(argument: string, message: string) {
    super(`${argument}: ${message}`);
    this.name = 'ArgumentError';
    this.argument = argument;
  }
}

export class ExecutionError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ExecutionError';
  }
}

/** A model that does not fit its devices' memory budget: what each device needs, and what it has. */
export class DeviceMemoryError extends ExecutionError {
  constructor(
    message: string,
    readonly neededBytes: number[],
    readonly budgetBytes: number,
  ) {
    super(message);
    this.name = 'DeviceMemoryError';
  }
}

/** Where in a convolution a failed task was: its groups and its slice of the output. */
export interface TaskLocation {
  index: number;
  groupStart: number;
  groupEnd: number;
  outChannelStart: number;
  outChannelEnd: number;
  batchStart: number;
  batchEnd: number;
}

/** A task of a GroupedConvEngine call failed in its worker (it threw, or the worker died); `task` says which. */
export class TaskError extends ExecutionError {
  readonly task: TaskLocation;
  readonly tasks: number;
  constructor(message: string, task: TaskLocation, tasks: number, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TaskError';
    this.task = task;
    this.tasks = tasks;
  }
}

/** A stage of an engine program failed in its worker (it threw, or the worker died); `stage` is its index in the program. */
export class ProgramStageError extends ExecutionError {
  constructor(
    message: string,
    readonly stage: number,
    readonly label: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ProgramStageError';
  }
}

/** A GroupedConvEngine call was cancelled by its AbortSignal; `cause` is the signal's reason. */
export class AbortError extends ExecutionError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AbortError';
  }
}

const describeTask = (t: TaskLocation): string => {
  const groups = t.groupEnd - t.groupStart === 1 ? `group ${t.groupStart}` : `groups ${t.groupStart}..${t.groupEnd - 1}`;
  return `${groups}, output channels [${t.outChannelStart}, ${t.outChannelEnd}), images [${t.batchStart}, ${t.batchEnd})`;
};

const formatGiB = (bytes: number): string => `${(bytes / 2 ** 30).toFixed(2)} GiB`;

const reasonOf = (cause: unknown): string => (cause instanceof Error ? cause.message : String(cause));

const show = (value: unknown): string => {
  if (Array.isArray(value)) return `[${value.map(show).join(', ')}]`;
  if (typeof value === 'string') return `'${value}'`;
  return String(value);
};


export const errors = {
  notATensor: (name: string, value: unknown) =>
    new ArgumentError(name, `expected a tensor { shape: number[], data: Float32Array }, got ${value === null ? 'null' : typeof value}`),
  notFloat32: (name: string, value: unknown) =>
    new ArgumentError(`${name}.data`, `expected a Float32Array, got ${value?.constructor?.name ?? typeof value}`),
  badShapeValue: (name: string, shape: unknown) =>
    new ArgumentError(`${name}.shape`, `every dimension must be a non-negative integer, got ${show(shape)}`),
  dataLength: (name: string, shape: number[], expected: number, actual: number) =>
    new ArgumentError(`${name}.data`, `shape ${show(shape)} holds ${expected} values but data has ${actual}`),
  rank: (name: string, expected: string, shape: number[]) =>
    new ArgumentError(`${name}.shape`, `expected ${expected}, got shape ${show(shape)} (rank ${shape.length})`),
  notPositiveInteger: (name: string, value: unknown) =>
    new ArgumentError(name, `must be a positive integer, got ${show(value)}`),
  notNonNegativeInteger: (name: string, value: unknown) =>
    new ArgumentError(name, `must be a non-negative integer, got ${show(value)}`),
  badPair: (name: string, value: unknown, what: string) =>
    new ArgumentError(name, `expected ${what}, got ${show(value)}`),
  channelsNotDivisible: (name: string, channels: number, groups: number) =>
    new ArgumentError(name, `${channels} channels are not divisible by groups=${groups}`),
  weightInChannels: (weightShape: number[], inputShape: number[], groups: number) =>
    new ArgumentError(
      'weight.shape',
      `with groups=${groups}, weight ${show(weightShape)} expects input with ${weightShape[1] * groups} channels, but input ${show(inputShape)} has ${inputShape[1]}`,
    ),
  biasLength: (biasShape: number[], outChannels: number) =>
    new ArgumentError('bias.shape', `expected a 1-D bias of ${outChannels} values (one per output channel), got shape ${show(biasShape)}`),
  sameWithStride: (stride: [number, number]) =>
    new ArgumentError('padding', `'same' is only supported with stride 1, got stride ${show(stride)}`),
  kernelTooLarge: (padded: [number, number], effective: [number, number]) =>
    new ArgumentError(
      'weight.shape',
      `the dilated kernel (${effective[0]} x ${effective[1]}) is larger than the padded input (${padded[0]} x ${padded[1]})`,
    ),
  unknownOption: (name: string, key: string, known: readonly string[]) =>
    new ArgumentError(name, `unknown option '${key}' (known: ${known.join(', ')})`),
  shapeMismatch: (name: string, expected: number[], actual: number[]) =>
    new ArgumentError(name, `expected shape ${show(expected)}, got ${show(actual)}`),
  invalid: (name: string, message: string) => new ArgumentError(name, message),
  arenaExhausted: (missingBytes: number, capacityBytes: number, maxBytes: number) =>
    new RangeError(
      `shared arena: cannot grow by ${missingBytes} bytes (capacity ${capacityBytes} bytes, limit ${maxBytes} bytes, or the system refused the memory)`,
    ),
  deviceMemory: (message: string, neededBytes: number[], budgetBytes: number) => new DeviceMemoryError(message, neededBytes, budgetBytes),
  // Devices: a device worker driven out of order, a piece given the wrong input, a device that died.
  deviceProtocol: (message: string) => new ExecutionError(message),
  deviceFailed: (device: number, cause: Error) => new ExecutionError(`device ${device} failed: ${cause.message}`, { cause }),
  deviceExited: (device: number, code: number) => new ExecutionError(`device ${device} stopped unexpectedly (exit code ${code})`),
  deviceClosed: (device: number) => new ExecutionError(`device ${device} is closed`),
  splitClosed: () => new ExecutionError('the split model is closed'),
  devicePassFailed: (device: number, layer: string, cause: unknown) =>
    new ExecutionError(`the forward pass failed on device ${device} at ${layer}: ${reasonOf(cause)}`, { cause }),
  // Any model on devices (src/devices/model-devices.ts).
  /** A layer a channels split on devices cannot compute by channel runs (one the zoo's graphs do not have). */
  channelsOpNotRunnable: (layer: string, what: string) =>
    new ArgumentError('strategy', `${layer}: the devices cannot compute ${what} by channel runs in a channels split; run the model with strategy data or pipeline`),
  /** An ONNX model's node that a channels split on devices cannot compute by channel runs: refused at set-up, before any thread starts. */
  channelsOnnxNodeNotRunnable: (model: string, node: string, opType: string, why: string) =>
    new ArgumentError(
      'strategy',
      `${model}: node '${node}' (${opType}) cannot run by channel runs in a channels split on devices (${why}); run the model with strategy data or pipeline`,
    ),
  /** A micro-batch's values came back from the pipeline, but not the ones expected (a device out of step). */
  pipelineOutOfStep: (message: string) => new ExecutionError(`the pipeline is out of step: ${message}`),
  passAborted: (device: number, layer: string, waitingFor: number[]) =>
    new ExecutionError(
      `device ${device} stopped waiting at ${layer} for pieces from device${waitingFor.length > 1 ? 's' : ''} ${waitingFor.join(', ')}: the host aborted the pass (another device failed)`,
    ),
  peerUnknown: (device: number, peer: number) => new ExecutionError(`device ${device} has no link to device ${peer}: call connect first`),
  // Shared memory and threads.
  tensorTooLarge: (name: string, shape: number[], bytes: number, maxBytes: number) =>
    new ArgumentError(name, `shape ${show(shape)} would take ${formatGiB(bytes)} (${bytes} bytes), more than one tensor can hold here (${formatGiB(maxBytes)})`),
  arenaAttached: () => new ExecutionError('this thread attached to the shared arena and cannot allocate; allocate on the main thread'),
  arenaAttachedTwice: () => new ExecutionError('this thread already has a different shared arena'),
  notInWorker: (entry: string) => new ExecutionError(`${entry} must run in a worker thread`),
  taskThrew: (task: TaskLocation, tasks: number, cause: unknown) =>
    new TaskError(`task ${task.index + 1} of ${tasks} (${describeTask(task)}) failed in its worker: ${reasonOf(cause)}`, task, tasks, { cause }),
  workerDied: (task: TaskLocation, tasks: number, cause: unknown) =>
    new TaskError(
      `task ${task.index + 1} of ${tasks} (${describeTask(task)}) failed: the worker running it died (${reasonOf(cause)}); the pool replaces it`,
      task,
      tasks,
      { cause },
    ),
  aborted: (reason: unknown) => new AbortError(`conv2d was aborted: ${reasonOf(reason)}`, { cause: reason }),
  relaxedSimdMissing: () => new ExecutionError('conv-fma.wasm needs WebAssembly relaxed SIMD, which this runtime lacks; set GROUPCONV_WASM=simd for the plain SIMD build'),
  engineClosed: () => new ExecutionError('the GroupedConvEngine is closed; create a new engine to run more convolutions'),
  closedWhileRunning: () => new ExecutionError('the GroupedConvEngine was closed while this call was running; its result was discarded'),
  layerClosed: () => new ExecutionError('this engine layer was closed; prepare it again with engine.layer(weight, bias, options)'),
  // The CLI (src/cli) and the benchmarks (bench/): a mistake in a command-line
  // flag, named as the user typed it, printed as one line with exit code 2.
  badFlag: (flag: string, message: string) => new ArgumentError(flag, message),
  /** A benchmark's own check failed (two variants that must agree did not): its figures would mean nothing. */
  benchCheck: (message: string) => new ExecutionError(message),
  /** A layer preset swept at a groups value its channels cannot be split by. */
  presetChannelsNotDivisible: (which: 'input' | 'output', channels: number, groups: number) =>
    new ArgumentError('groups', `${channels} ${which} channels are not divisible by groups=${groups}`),
  // engine (src/engine)
  /** A call's runners all returned but a task was never finished: an engine bug, reported like a task that threw. */
  unfinishedTask: (task: TaskLocation, tasks: number): TaskError => errors.taskThrew(task, tasks, new Error('no runner finished it')),
  // Programs (src/engine/program.ts): stages run by the workers in one hand-off.
  programStageFailed: (stage: number, stages: number, label: string, died: boolean, cause: unknown, onCallingThread = false) =>
    new ProgramStageError(
      died
        ? `stage ${stage + 1} of ${stages} (${label}) failed: the worker running it died (${reasonOf(cause)}); the pool replaces it`
        : `stage ${stage + 1} of ${stages} (${label}) failed ${onCallingThread ? 'on the calling thread' : 'in its worker'}: ${reasonOf(cause)}`,
      stage,
      label,
      { cause },
    ),
  /** A program's runners all returned but a task of `label` was never finished: an engine bug. */
  programUnfinished: (stage: number, stages: number, label: string) =>
    new ProgramStageError(`stage ${stage + 1} of ${stages} (${label}): no runner finished it`, stage, label),
  positionsWithoutNativePointwise: (kernel: string) =>
    new ExecutionError(`a run of positions reached the ${kernel} kernel: only the native 1x1 kernel computes one (the engine cuts by positions only where it runs)`),
  scaleWithoutNativePointwise: (kernel: string) =>
    new ExecutionError(`an input scale reached the ${kernel} kernel: only the native 1x1 kernel applies one (a scaled stage is made only where it runs)`),
  scaledCopyFailed: (channels: number) => new ExecutionError(`the native 1x1 kernel could not allocate its scaled copy of ${channels} input channels`),
  programClosed: () => new ExecutionError('this engine program was closed; build it again with engine.program(stages, buffers)'),
  /** A channel shuffle group (onnx/fuse-layout.ts) whose steps are not all worker stages: a bug (the memory plan counts it as one step), so a plain Error. */
  shuffleGroupNotOnWorkers: (node: string) => new Error(`channel shuffle group at '${node}': its steps are not all worker stages`),
  /** A parked runner found its slot in a state the protocol never leaves it in (see doorbell.ts): an engine bug, so a plain Error. */
  unexpectedSlotState: (state: number) => new Error(`parked runner: unexpected slot state ${state}`),
  // Kernels (src/kernels)
  packedWeightLength: (weightShape: readonly number[], length: number) =>
    new ExecutionError(`packConvWeights: weight of shape [${weightShape}] has ${length} values`),
  packedWeightGroups: (outChannels: number, groups: number) =>
    new ExecutionError(`packConvWeights: ${outChannels} output channels do not divide into ${groups} groups`),
  packedWeightsReleased: () => new ExecutionError('planConv: the packed weights were released'),
  packedWeightsMismatch: (weightShape: readonly number[], groups: number, kind: string) =>
    new ExecutionError(`planConv: weights packed as [${weightShape}] in ${groups} groups (${kind}) do not fit this layer`),
  kernelOperandsOutsideArena: () =>
    new ExecutionError('the WebAssembly kernels on a worker thread need their tensors and scratch in the shared arena (views of the shared memory)'),
  // ONNX (src/onnx): everything wrong with a file is found when it is loaded, and says where.
  onnxNotOnnx: (source: string, why: string) => new OnnxError(`${source} is not an ONNX model: ${why}`, { source }),
  onnxCorrupt: (source: string, offset: number, why: string) =>
    new OnnxError(`${source} is truncated or corrupted at byte ${offset}: ${why}`, { source, offset }),
  onnxUnsupportedOperator: (source: string, node: OnnxNodeRef, opset: number, supported: readonly string[]) =>
    new OnnxError(
      `${source}: ${describeNode(node)} uses operator ${node.domain ? `${node.domain}.` : ''}${node.opType} (opset ${opset}), which groupconv does not support (supported: ${supported.join(', ')})`,
      { source, node: node.name, opType: node.opType },
    ),
  onnxUnsupportedAttribute: (source: string, node: OnnxNodeRef, attribute: string, value: unknown, why: string) =>
    new OnnxError(`${source}: ${describeNode(node)} has attribute ${attribute} = ${show(value)}: ${why}`, {
      source,
      node: node.name,
      opType: node.opType,
      attribute,
    }),
  onnxUnsupportedDtype: (source: string, where: string, dtype: string) =>
    new OnnxError(`${source}: ${where} has data type ${dtype}, which groupconv does not support`, { source }),
  onnxInvalid: (source: string, message: string, node?: OnnxNodeRef) =>
    new OnnxError(`${source}: ${node ? `${describeNode(node)}: ` : ''}${message}`, { source, node: node?.name, opType: node?.opType }),
  onnxNodeFailed: (node: OnnxNodeRef, inputShapes: (number[] | null)[], cause: unknown) =>
    new ExecutionError(
      `${describeNode(node)} failed on inputs of shape ${inputShapes.map((s) => (s ? show(s) : 'none')).join(', ')}: ${reasonOf(cause)}`,
      { cause },
    ),
  onnxClosed: () => new ExecutionError('this OnnxModel was closed; load the model again'),
  /** A value an ONNX op was given that it cannot take (a shape, a dtype, an axis), found while running it. */
  onnxValue: (message: string) => new ExecutionError(message),
  onnxEngineStepFailed: (node: string, opType: string, cause: Error) =>
    new ExecutionError(`node '${node}' (${opType}) failed on the engine: ${cause.message}`, { cause }),
  // The fused convolution epilogue (src/kernels/epilogue.ts, src/ops/conv-bias-activation.ts,
  // src/ops/fold-batchnorm.ts, the engine's activation and residual options).
  /** An activation that is not one the epilogue fuses. */
  unknownActivation: (name: string, value: unknown, known: readonly string[]) =>
    new ArgumentError(name, `unknown activation ${show(value)} (the fused ones: ${known.map(show).join(', ')}; apply any other after the convolution)`),
  clipBounds: (name: string, min: unknown, max: unknown) =>
    new ArgumentError(name, `clip needs numbers min <= max (NaN is neither), got min ${show(min)} and max ${show(max)}`),
  hardSigmoidParameters: (name: string, alpha: unknown, beta: unknown) =>
    new ArgumentError(name, `hardsigmoid needs finite numbers alpha and beta (max(0, min(1, alpha * x + beta))), got alpha ${show(alpha)} and beta ${show(beta)}`),
  residualShape: (name: string, outputShape: number[], residualShape: number[]) =>
    new ArgumentError(name, `the residual must have the output's shape ${show(outputShape)}, got ${show(residualShape)}`),
  batchNormLength: (name: string, expected: number, shape: number[]) =>
    new ArgumentError(name, `expected a 1-D tensor of ${expected} values (one per output channel of the convolution), got shape ${show(shape)}`),
  batchNormEps: (eps: unknown) => new ArgumentError('eps', `must be a non-negative finite number, got ${show(eps)}`),
  // The split planner on ONNX models (src/split/from-onnx.ts).
  /** A node of an ONNX model that the split planner cannot place on devices. */
  splitOnnxNode: (node: string, opType: string, why: string) => new ArgumentError('model', `node '${node}' (${opType}): ${why}`),
};

/** A node as errors name it: its name (exporters name every node) and operator. */
export interface OnnxNodeRef {
  name: string;
  opType: string;
  domain?: string;
}

const describeNode = (node: OnnxNodeRef): string => `node '${node.name || '(unnamed)'}' (${node.opType})`;

/**
 * An ONNX file groupconv cannot load: not ONNX, truncated or corrupted (`offset`
 * is the byte where decoding stopped), or a node, attribute or data type outside
 * what groupconv runs (`node`, `opType`, `attribute` say which).
 */
export class OnnxError extends ArgumentError {
  readonly source: string;
  readonly node?: string;
  readonly opType?: string;
  readonly attribute?: string;
  readonly offset?: number;
  constructor(message: string, where: { source: string; node?: string; opType?: string; attribute?: string; offset?: number }) {
    super('model', message);
    this.name = 'OnnxError';
    this.source = where.source;
    this.node = where.node;
    this.opType = where.opType;
    this.attribute = where.attribute;
    this.offset = where.offset;
  }
}
