// Passwords: argon2id with OWASP's recommended parameters (19 MiB, 2 passes, 1 lane), hashed on the
// libuv thread pool, off the event loop. NIST SP 800-63B 5.1.1.2: a password is NFKC-normalised
// before it is hashed and before it is checked, so the same password typed on two keyboards (a
// precomposed "é" or "e" + combining accent, a full-width "Ａ") is the same password.
import argon2 from 'argon2';

const OPTIONS = { type: argon2.argon2id, memoryCost: 19456, timeCost: 2, parallelism: 1 } as const;

/** The form every password is hashed and checked in (NFKC), and measured in by the policy. */
export const normalisedPassword = (password: string): string => password.normalize('NFKC');

export const hashPassword = (password: string): Promise<string> => argon2.hash(normalisedPassword(password), OPTIONS);

// Verifying against this when the login is unknown makes "no such user" cost what "wrong password" costs.
let dummy: Promise<string> | undefined;

// Password checks run in this process (one argon2id verify each, known user or not): the metric
// tether_password_hashes_total reads it, so an operator (and the tests) can see the work is equal.
let verifications = 0;
export const passwordVerifications = (): number => verifications;

async function verifies(target: string, password: string): Promise<boolean> {
  verifications++;
  try {
    return await argon2.verify(target, password);
  } catch {
    return false;
  }
}

/**
 * `ok`, `wrong`, or `rehash`: right, but the stored hash should be replaced with hashPassword's (a hash
 * made before normalisation, of the password as typed; or made with other argon2 parameters). Both
 * forms are tried only when they differ, for a known user or not, so the work never tells which.
 * With no hash (unknown user) it does the same work and answers `wrong`.
 */
export async function checkPassword(hash: string | undefined, password: string): Promise<'ok' | 'rehash' | 'wrong'> {
  dummy ??= hashPassword('tether-timing-equaliser');
  const target = hash ?? (await dummy);
  const normalised = normalisedPassword(password);
  if (await verifies(target, normalised)) {
    if (hash === undefined) return 'wrong';
    return argon2.needsRehash(hash, OPTIONS) ? 'rehash' : 'ok';
  }
  // A hash stored before passwords were normalised is of the password as it was typed.
  if (normalised !== password && (await verifies(target, password))) return hash === undefined ? 'wrong' : 'rehash';
  return 'wrong';
}

/** True when `password` matches (a hash made before normalisation included). */
export async function verifyPassword(hash: string | undefined, password: string): Promise<boolean> {
  return (await checkPassword(hash, password)) !== 'wrong';
}
