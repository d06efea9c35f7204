/** Waits, in steps of 20 ms, until `condition` holds; fails after `ms` naming `what`. */
export async function waitUntil(condition: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise<void>((ok) => setTimeout(ok, 20));
  }
}
