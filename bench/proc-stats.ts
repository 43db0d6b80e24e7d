// What the benchmarks read from /proc (Linux) about a server process: its CPU time and its
// read/write syscall counts. NaN where /proc is not available.
import { readFileSync } from 'node:fs'

/** Read and write syscalls a process has made so far, from /proc/<pid>/io. */
export function syscalls (pid: number | undefined): { reads: number, writes: number } {
  try {
    const io = readFileSync(`/proc/${pid ?? 0}/io`, 'utf8')
    return { reads: Number(/syscr: (\d+)/.exec(io)?.[1]), writes: Number(/syscw: (\d+)/.exec(io)?.[1]) }
  } catch {
    return { reads: Number.NaN, writes: Number.NaN }
  }
}

/** CPU seconds (user + system) a process has used so far, from /proc/<pid>/stat. */
export function cpuSeconds (pid: number | undefined): number {
  try {
    const fields = readFileSync(`/proc/${pid ?? 0}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? []
    return (Number(fields[11]) + Number(fields[12])) / 100 // utime and stime, in clock ticks of 1/100 s
  } catch {
    return Number.NaN
  }
}
