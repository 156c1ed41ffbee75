/** The --tap mode of the demo (root): separate processes over TAP, curl as the client, SIGKILL. */
import type { ScenarioOptions } from './scenario.js';

export async function runTapDemo(_opts: ScenarioOptions): Promise<number> {
  console.error('demo --tap is not implemented yet; run the in-memory demo (no flags)');
  return 1;
}
