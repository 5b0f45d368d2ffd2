// A store that cannot answer becomes the catalogue's 503 (as a login's user lookup does), not -32603.
import { RpcError } from '../../server/errors.ts';

export async function fromStore<T>(work: Promise<T>, what: string): Promise<T> {
  try {
    return await work;
  } catch (err) {
    if (err instanceof RpcError) throw err;
    throw new RpcError('STORAGE_UNAVAILABLE', `The ${what} could not answer; retry shortly.`);
  }
}
