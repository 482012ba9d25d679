// CPU time of another process, from /proc/<pid>/stat (Linux): how a benchmark
// reports a server's CPU per operation, which drifts less than throughput on a
// shared machine. Works for any pid, so kopilka's own server process too.

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Clock ticks per second of utime/stime; 100 on every common Linux, asked once. */
const clock_ticks_per_s = readClockTicksPerS();

function readClockTicksPerS(): number {
  try {
    const ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return Number.isFinite(ticks) && ticks > 0 ? ticks : 100;
  } catch {
    return 100;
  }
}

/**
 * User + system CPU time the process has used, in ms (resolution 1 tick: 10 ms),
 * or undefined where /proc is missing or the process is gone.
 */
export function processCpuMs(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count fields after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // After the name, field 3 (state) is index 0, so utime (14) and stime (15) are 11 and 12.
    const ticks = Number(fields[11]) + Number(fields[12]);
    return Number.isFinite(ticks) ? (ticks * 1000) / clock_ticks_per_s : undefined;
  } catch {
    return undefined;
  }
}

/** Samples a process's CPU time at the start and end of the measured window; plug into a driver's hooks. */
export class CpuWindow {
  private startMs: number | undefined;
  private endMs: number | undefined;

  constructor(private readonly pid: number) {}

  readonly onMeasureStart = (): void => {
    this.startMs = processCpuMs(this.pid);
  };

  readonly onMeasureEnd = (): void => {
    this.endMs = processCpuMs(this.pid);
  };

  /** CPU time per operation over the window, in us; undefined when it could not be read. */
  usPerOp(ops: number): number | undefined {
    if (this.startMs === undefined || this.endMs === undefined || ops <= 0) return undefined;
    return ((this.endMs - this.startMs) * 1000) / ops;
  }
}
