// The time frame every load driver shares: a warmup whose operations are thrown
// away (JIT, connection setup, LMDB map growth), then the measured window. The
// hooks let a caller sample what the driver cannot see, e.g. the server process's
// CPU time over exactly the measured window.

import { performance } from 'node:perf_hooks';

export interface LoadTiming {
  /** Length of the measured window, in ms. */
  durationMs: number;
  /** Load applied before measuring starts, in ms; its operations are not counted. */
  warmupMs: number;
  /** Called once when the measured window opens. */
  onMeasureStart?: () => void;
  /** Called once when the measured window closes, before connections are torn down. */
  onMeasureEnd?: () => void;
}

/**
 * Drives the two phases with timers. A driver checks `measuring` when an
 * operation completes, and `stopped` before starting a new one; `done` resolves
 * when the measured window has closed.
 */
export class MeasureWindow {
  measuring = false;
  stopped = false;
  private measureStartedAt = 0;
  private measureEndedAt = 0;
  private timers: NodeJS.Timeout[] = [];
  private resolveDone: () => void = () => {};

  /**
   * @param onMeasureStart the driver's own reset (histogram, counters), run before the caller's hook
   */
  constructor(private readonly timing: LoadTiming, private readonly onMeasureStart: () => void) {}

  /** Starts the warmup now; resolves when the measured window has closed. */
  run(): Promise<void> {
    return new Promise((resolve) => {
      this.resolveDone = resolve;
      this.timers.push(setTimeout(() => {
        this.onMeasureStart();
        this.timing.onMeasureStart?.();
        this.measuring = true;
        this.measureStartedAt = performance.now();
        this.timers.push(setTimeout(() => {
          this.measureEndedAt = performance.now();
          this.measuring = false;
          this.stopped = true;
          this.timing.onMeasureEnd?.();
          resolve();
        }, this.timing.durationMs));
      }, this.timing.warmupMs));
    });
  }

  /** Ends the run early (e.g. every connection failed); `run()` resolves. */
  abort(): void {
    for (const timer of this.timers) clearTimeout(timer);
    if (this.measuring) {
      this.measureEndedAt = performance.now();
      this.timing.onMeasureEnd?.();
    }
    this.measuring = false;
    this.stopped = true;
    this.resolveDone();
  }

  /** The measured window as it really was (timers fire late on a busy loop), in ms. */
  get elapsedMs(): number {
    return Math.max(0, this.measureEndedAt - this.measureStartedAt);
  }
}
