// Password policy, NIST SP 800-63B 5.1.1.2: at least 8 characters, at most 256 (argon2's input stays
// bounded), and not one of the commonly used passwords of zxcvbn-ts's maintained list (~49,000
// entries, all lower case: the check ignores case, so "Password1" is refused like "password1").
// No composition rules (NIST advises against them). Every rule reads the password as it is hashed,
// NFKC-normalised (passwords.ts); lengths count its Unicode code points, as NIST asks. A password
// made only of characters that show nothing (spaces, zero-width and other format characters) is
// refused: it looks empty wherever it is typed. The common-password list is compared with the
// password trimmed and lower-cased, so "password " and "ＰＡＳＳＷＯＲＤ" are refused like "password".
import { RpcError } from '../errors.ts';
import { normalisedPassword } from './passwords.ts';

export const MIN_PASSWORD_LENGTH = 8;
export const MAX_PASSWORD_LENGTH = 256;

export type PasswordRule = 'min_length' | 'max_length' | 'invisible' | 'common';

export interface PasswordRefusal {
  rule: PasswordRule;
  /** Says which rule failed; never repeats the password. */
  message: string;
}

/** The policy in one sentence, for schemas' descriptions and usage texts. */
export const PASSWORD_POLICY = `${MIN_PASSWORD_LENGTH}-${MAX_PASSWORD_LENGTH} characters (after NFKC normalisation), not only spaces or invisible characters, not a commonly used password`;

// Loaded on first use: the package decompresses its lists when imported (~150 ms, ~10 MB), which a
// server or a CLI command that never sets a password should not pay at start.
let common: Promise<ReadonlySet<string>> | undefined;
const commonPasswords = (): Promise<ReadonlySet<string>> =>
  (common ??= import('@zxcvbn-ts/language-common').then(
    (m) => new Set(m.dictionary['passwords-common']),
    (err: unknown) => {
      common = undefined; // the next call tries again
      throw err;
    },
  ));

/**
 * Characters that show nothing: white space, control and format characters (zero-width space and
 * joiners, bidi marks, the BOM), other default-ignorable code points (variation selectors, the Hangul
 * fillers) and combining marks with nothing to combine with.
 */
const INVISIBLE_ONLY = /^[\p{White_Space}\p{Cc}\p{Cf}\p{Default_Ignorable_Code_Point}\p{M}]*$/u;

/** Undefined when the password is acceptable, else the first rule it breaks. */
export async function passwordRefusal(password: string): Promise<PasswordRefusal | undefined> {
  const normalised = normalisedPassword(password);
  const length = [...normalised].length;
  if (length < MIN_PASSWORD_LENGTH) return { rule: 'min_length', message: `must have at least ${MIN_PASSWORD_LENGTH} characters (it has ${length})` };
  if (length > MAX_PASSWORD_LENGTH) return { rule: 'max_length', message: `must have at most ${MAX_PASSWORD_LENGTH} characters (it has ${length})` };
  if (INVISIBLE_ONLY.test(normalised)) return { rule: 'invisible', message: 'is made only of spaces or invisible characters: use characters that can be seen' };
  if ((await commonPasswords()).has(normalised.trim().toLowerCase())) return { rule: 'common', message: 'is a commonly used password: choose one that is not on lists of leaked or frequent passwords' };
  return undefined;
}

/** For methods: -32602 Invalid params naming the field, with the broken rule in `data.rule` and the detail. */
export async function assertAcceptablePassword(password: string, field: string): Promise<void> {
  const refusal = await passwordRefusal(password);
  if (refusal) throw new RpcError('INVALID_PARAMS', `${field}: ${refusal.message}`, { field, rule: refusal.rule });
}
