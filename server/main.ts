// `make run` / `tether serve`: the server's entry point. It installs the SIGTERM/SIGINT handlers first
// and only then loads the server (a second or two on a busy machine): a signal in that time is kept and
// answered by a clean stop, not by the default action that kills the process.
import './heapSizing.ts'; // first: V8's heap growth, before anything allocates (heapSizing.ts says why)
import { stopSignals } from './stopSignals.ts';

const signals = stopSignals();

export async function serve(): Promise<void> {
  if (signals.received) return stopBeforeStart();
  const { serve: start } = await import('./serve.ts');
  if (signals.received) return stopBeforeStart();
  await start(signals);
}

/** Nothing opened yet: nothing to close. */
function stopBeforeStart(): never {
  console.error(`tether: ${signals.received} before start-up: stopped (nothing was opened)`);
  process.exit(0);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  serve().catch((err) => {
    console.error('tether: failed to start:', err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
