// Number, file and link flags shared by `groupconv alexnet`, `split` and `infer`:
// each mistake is an ArgumentError naming the flag (one line, exit code 2).
import { existsSync, statSync } from 'node:fs';
import { errors } from '../../errors.js';

export function positiveInteger(flag: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n <= 0) throw errors.badFlag(flag, `expected a positive integer, got '${value}'`);
  return n;
}

export function nonNegativeInteger(flag: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n)) throw errors.badFlag(flag, `expected a non-negative integer, got '${value}'`);
  return n;
}

export function positiveNumber(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0) throw errors.badFlag(flag, `expected a positive number, got '${value}'`);
  return n;
}

export function nonNegativeNumber(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0) throw errors.badFlag(flag, `expected a non-negative number, got '${value}'`);
  return n;
}

export function readableFile(flag: string, path: string | undefined): string | undefined {
  if (path === undefined) return undefined;
  if (!existsSync(path)) throw errors.badFlag(flag, `file '${path}' does not exist`);
  if (!statSync(path).isFile()) throw errors.badFlag(flag, `'${path}' is not a file`);
  return path;
}

/** The budget and link flags of `split` and `alexnet`, checked: GiB per device (default 3), Gbit/s and µs per transfer (default none). */
export function linkFlags(values: { 'budget-gb'?: string; 'link-gbps'?: string; 'link-latency-us'?: string }) {
  const budgetGiB = positiveNumber('--budget-gb', values['budget-gb']) ?? 3;
  const linkGbps = positiveNumber('--link-gbps', values['link-gbps']);
  const latencyUs = nonNegativeNumber('--link-latency-us', values['link-latency-us']);
  return { budgetGiB, linkGbps, latencyUs };
}
