/**
 * Waits until `url` (an app behind a NodePort on 127.0.0.1) answers 200, and
 * returns that first answer. A deploy ends when the pods are Ready and
 * available, as `kubectl rollout status` does; kube-proxy writes the Service's
 * rules after that (its next sync, about a second later), so a request sent the
 * moment the deploy returns can be refused. Visitors in the tests start here.
 */
export async function firstAnswer(url: string, timeoutMs = 30_000): Promise<Response> {
  const deadline = performance.now() + timeoutMs;
  let last = "";
  while (performance.now() < deadline) {
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      if (response.status === 200) return response;
      await response.body?.cancel();
      last = `HTTP ${response.status}`;
    } catch (error) {
      last = String((error as Error).cause ?? error);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`${url} did not answer 200 within ${timeoutMs} ms (last: ${last})`);
}
