// pino JSON logs. Secrets never reach a log: callers pass prefixes, never whole ids or tokens;
// the redact list is a second line of defence.
import pino, { type DestinationStream, type Logger } from 'pino';

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'tether' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: ['password', 'client_secret', 'access_token', 'session_id', 'security_token', '*.password', '*.authorization', '*.cookie'], censor: '[redacted]' },
    },
    destination,
  );
}
