// Passwords: argon2id with OWASP's recommended parameters (19 MiB, 2 passes, 1 lane), hashed on the
// libuv thread pool, off the event loop.
import argon2 from 'argon2';

const OPTIONS = { type: argon2.argon2id, memoryCost: 19456, timeCost: 2, parallelism: 1 } as const;

export const hashPassword = (password: string): Promise<string> => argon2.hash(password, OPTIONS);

// Verifying against this when the login is unknown makes "no such user" cost what "wrong password" costs.
let dummy: Promise<string> | undefined;

// Password checks run in this process (one argon2id verify each, known user or not): the metric
// tether_password_hashes_total reads it, so an operator (and the tests) can see the work is equal.
let verifications = 0;
export const passwordVerifications = (): number => verifications;

/** True when `password` matches; with no hash (unknown user) it does the same work and answers false. */
export async function verifyPassword(hash: string | undefined, password: string): Promise<boolean> {
  dummy ??= hashPassword('tether-timing-equaliser');
  const target = hash ?? (await dummy);
  verifications++;
  try {
    const ok = await argon2.verify(target, password);
    return hash !== undefined && ok;
  } catch {
    return false;
  }
}
