/** For /readyz: does the Temporal frontend answer a cheap call within a short deadline? */
export async function temporalReachable(
  connection: { workflowService: { getSystemInfo(request: object): Promise<unknown> } },
  timeoutMs = 2_000,
): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('timeout')), timeoutMs);
    });
    await Promise.race([connection.workflowService.getSystemInfo({}), timeout]);
    return true;
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}
