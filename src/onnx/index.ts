// The ONNX front end's public surface (re-exported from src/index.ts).
export { loadOnnx } from './load.js';
export { OnnxModel, type OnnxModelInfo } from './model.js';
export { OnnxError } from '../errors.js';
export type { OnnxGraph, OnnxNode, ValueInfo, AttributeValue } from './graph.js';
export type { Plan, PlanStep } from './plan.js';
export type { ModelProfile, StepProfile, ExecutionStep, Execution } from './engine-run.js';
export type { Value, DType } from './value.js';
export type { MemoryPlanReport } from './memory-plan.js';
export { SUPPORTED_OPERATORS } from './ops/index.js';
