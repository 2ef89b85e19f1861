// Progress on stderr, so stdout stays the report: a bar redrawn in place when
// stderr is a terminal, one plain line per finished point otherwise (logs, CI).
import { formatMs } from './report/format.js';

/** What a sweep tells about its progress. */
export interface BenchProgress {
  /** The sweep is about to start `total` points. */
  start(total: number): void;
  /** A point starts (index from 0). */
  point(index: number, label: string): void;
  /** A point finished with its median. */
  pointDone(index: number, label: string, medianMs: number, runs: number): void;
  finish(): void;
}

export const silentProgress: BenchProgress = { start() {}, point() {}, pointDone() {}, finish() {} };

export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export function lineProgress(stream: ProgressStream): BenchProgress {
  let total = 0;
  return {
    start(n) {
      total = n;
    },
    point() {},
    pointDone(index, label, medianMs, runs) {
      stream.write(`[${index + 1}/${total}] ${label}: median ${formatMs(medianMs)} ms (${runs} run${runs === 1 ? '' : 's'})\n`);
    },
    finish() {},
  };
}

export function barProgress(stream: ProgressStream, now: () => number = () => performance.now()): BenchProgress {
  let total = 0;
  let done = 0;
  let label = '';
  let started = 0;
  let timer: ReturnType<typeof setInterval> | null = null;
  const draw = () => {
    const width = 24;
    const filled = total === 0 ? width : Math.round((done / total) * width);
    const elapsed = ((now() - started) / 1000).toFixed(0);
    let line = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} ${elapsed}s ${label}`;
    const columns = stream.columns ?? 80;
    if (line.length > columns - 1) line = line.slice(0, columns - 1);
    stream.write(`\r\x1b[2K${line}`);
  };
  return {
    start(n) {
      total = n;
      started = now();
      draw();
      // Redraw the elapsed seconds while a slow point runs; never keeps the process alive.
      timer = setInterval(draw, 500);
      timer.unref();
    },
    point(_index, pointLabel) {
      label = pointLabel;
      draw();
    },
    pointDone() {
      done++;
      draw();
    },
    finish() {
      if (timer) clearInterval(timer);
      timer = null;
      stream.write('\r\x1b[2K');
    },
  };
}

export function progressFor(stream: ProgressStream): BenchProgress {
  return stream.isTTY ? barProgress(stream) : lineProgress(stream);
}
