// The part of newman's Node API the Postman test uses (newman ships no types).
declare module 'newman' {
  interface RunOptions {
    collection: string | object;
    environment?: string | object;
    envVar?: { key: string; value: string }[];
    reporters?: string | string[];
    timeoutRequest?: number;
  }
  interface Failure {
    error: { name: string; message: string; test?: string };
    source?: { name?: string };
  }
  interface RunSummary {
    run: {
      stats: { requests: { total: number; failed: number }; assertions: { total: number; failed: number } };
      failures: Failure[];
    };
  }
  function run(options: RunOptions, callback: (error: Error | null, summary: RunSummary) => void): unknown;
  const newman: { run: typeof run };
  export default newman;
}
