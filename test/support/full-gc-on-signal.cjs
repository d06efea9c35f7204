// Preloaded into a server process by test/robustness/gc-under-load.test.ts (node --expose-gc):
// SIGUSR2 runs a full garbage collection at once and prints when, in ms of performance.now(),
// which V8's trace timestamps follow within a few ms (the test leaves 100 ms of slack).
process.on('SIGUSR2', () => {
  const at = performance.now();
  global.gc();
  process.stdout.write(`FULL-GC-AT ${at.toFixed(0)}\n`);
});
