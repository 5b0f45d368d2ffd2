// Every reason a session ends for, in one list: the metrics start each at 0 and admin.stats names each,
// so a dashboard or a script sees every reason even before the first session ends for it.
import type { EndReason } from '../stores/sessionStore.ts';

export const END_REASONS = ['idle', 'absolute', 'logout', 'revoked', 'cap', 'user_disabled', 'password_changed', 'password_reset', 'reauthenticated'] as const satisfies readonly EndReason[];

// A reason added to EndReason and not here fails the type check.
type Missing = Exclude<EndReason, (typeof END_REASONS)[number]>;
const _everyReasonListed: [Missing] extends [never] ? true : Missing = true;
void _everyReasonListed;
