/** Stands in for the call that really restarts a pool (an ops API, kubectl): what the guarded tools run. */
export async function restartWorkers(pool: string, strategy: 'rolling' | 'immediate'): Promise<string> {
  return `restarted ${pool} (${strategy})`;
}
