/**
 * Polls a condition until it holds (for effects that cross a socket or a thread); fails
 * after timeoutMs naming what it waited for. No dependencies, so driver tests can use it
 * without loading the hub.
 */
export async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
