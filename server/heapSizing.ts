// The V8 heap's growth, set by the server's entry point before it loads anything else (main.ts imports
// this first). After each full collection V8 lets the old generation grow by a factor it picks from
// the collector's speed, up to 4x the live heap on a machine with memory to spare: with ~30 MB live,
// the heap reached 120-135 MB before the next collection, and the process 190-225 MB of RSS in the
// bench's memory run (1M `me` calls over 100k sessions). A fixed 1.5x keeps it near 140 MB there for
// no measurable CPU per call (bench/README Performance). This flag is one V8 reads at every collection,
// so it takes effect here, at run time, without a command-line flag: `make run`, the Docker image,
// `tether serve` and WORKERS' processes all start through main.ts. An operator's own
// --heap-growing-percent (node's command line or NODE_OPTIONS) is left as it is.
import v8 from 'node:v8';

export const HEAP_GROWING_PERCENT = 50;

const given = [...process.execArgv, process.env.NODE_OPTIONS ?? ''].some((arg) => /--heap[-_]growing[-_]percent/.test(arg));
if (!given) v8.setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
