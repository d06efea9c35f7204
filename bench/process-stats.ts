/**
 * What a server process costs, from /proc: CPU time (utime + stime, in clock ticks of 1/100 s
 * on Linux) and the peak resident set (VmHWM), which can be reset between scenarios by
 * writing 5 to /proc/<pid>/clear_refs.
 */
import { readFileSync, writeFileSync } from 'node:fs';

const TICKS_PER_SECOND = 100;

/** CPU seconds the process has used so far. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name may contain spaces; the fields after its closing parenthesis are fixed.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND; // utime, stime (fields 14, 15)
}

function statusField(pid: number, name: string): number {
  const match = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) / 1024 : NaN;
}

/**
 * CPU seconds the hypervisor gave to others while this VM wanted to run ("steal", the 8th
 * figure of /proc/stat's `cpu` line, see proc(5)), summed over all cores; 0 on bare metal.
 */
export const machineStealSeconds = (): number => stealSecondsOf(readFileSync('/proc/stat', 'utf8'));

/** The steal figure of a /proc/stat text, in seconds. */
export function stealSecondsOf(procStat: string): number {
  const [label, ...figures] = procStat.split('\n', 1)[0]!.trim().split(/\s+/);
  if (label !== 'cpu' || figures.length < 8) throw new Error(`/proc/stat: no steal figure in its first line: ${procStat.slice(0, 80)}`);
  return Number(figures[7]) / TICKS_PER_SECOND;
}

/** Peak resident memory in MiB since start or since the last reset. */
export const peakRssMb = (pid: number): number => statusField(pid, 'VmHWM');
export const rssMb = (pid: number): number => statusField(pid, 'VmRSS');

/** Starts a new peak-RSS window; false where the kernel does not allow it. */
export function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}
