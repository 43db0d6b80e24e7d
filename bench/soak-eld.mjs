// Preloaded into the soak server (node --import bench/soak-eld.mjs): samples the server's own
// event-loop delay with monitorEventLoopDelay and prints one line per interval on stdout,
//   eld p50=<ms> p99=<ms> max=<ms> mean=<ms>
// resetting the histogram each time, so every line describes its own interval only. The values are
// the delay beyond the 10 ms sampling timer (the histogram records whole timer intervals).
import { monitorEventLoopDelay } from 'node:perf_hooks'

const intervalMs = Number(process.env.SOAK_SAMPLE_MS ?? 5000)
const RESOLUTION_MS = 10
const histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS })
histogram.enable()
const ms = (ns) => Math.max(0, ns / 1e6 - RESOLUTION_MS).toFixed(2)
setInterval(() => {
  process.stdout.write(`eld p50=${ms(histogram.percentile(50))} p99=${ms(histogram.percentile(99))} max=${ms(histogram.max)} mean=${ms(histogram.mean)}\n`)
  histogram.reset()
}, intervalMs).unref()
