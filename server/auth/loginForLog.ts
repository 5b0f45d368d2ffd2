// What a log line may say about a login as typed: a password typed into the login field must not land
// in the log. Its first 3 characters (enough to recognise a user) and 8 hex characters of its SHA-256
// (enough to see that attempts repeat the same string, too short to be more than a hint).
import { createHash } from 'node:crypto';

export function loginForLog(login: string): { login_prefix: string; login_hash: string } {
  return {
    login_prefix: Array.from(login).slice(0, 3).join(''),
    login_hash: createHash('sha256').update(login).digest('hex').slice(0, 8),
  };
}
