/**
 * Memory that stays reachable, for leak checks. rss and an un-collected heap move with the
 * garbage collector's timing and with everything else the test process holds, so a bound on
 * them either fails at random or is too loose to catch a leak; the heap that survives a full
 * collection is what a leak grows.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

setFlagsFromString('--expose-gc');
/** The collector's `gc`, exposed at run time (mocha is not started with --expose-gc). */
const collect = runInNewContext('gc') as (options?: { type: 'major'; execution: 'sync' }) => void;

/** Bytes of heap still reachable after full collections. */
export function retainedHeapBytes(): number {
  // Two passes: the first may run finalizers that free more on the second.
  collect();
  collect();
  return process.memoryUsage().heapUsed;
}
