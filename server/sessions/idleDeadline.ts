// When a session ends if nothing more happens: its idle deadline, never past its absolute end. What
// `me` calls expires_at, computed for a row (sessions.list, admin.sessions.list, the CLI's list).

export function idleDeadline(lastActivity: Date, absoluteEnd: Date, idleTimeoutSeconds: number): Date {
  return new Date(Math.min(lastActivity.getTime() + idleTimeoutSeconds * 1000, absoluteEnd.getTime()));
}
