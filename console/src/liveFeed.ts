// The live session events, from GET /console/api/events (Server-Sent Events on the console's cookie).
// EventSource reconnects by itself and sends Last-Event-ID, so nothing is missed across a drop.
export interface SessionEvent {
  id: string;
  type: string;
  at: string;
  user_id: number | null;
  client_id: string | null;
  session_prefix: string | null;
  reason: string | null;
}

export const EVENT_TYPES = ['session.opened', 'session.ended', 'session.refused', 'login.throttled'];

export function openFeed(onEvent: (e: SessionEvent) => void, onState: (state: string) => void): () => void {
  const source = new EventSource('api/events');
  source.addEventListener('open', () => onState('connected'));
  source.addEventListener('error', () => onState(source.readyState === EventSource.CLOSED ? 'closed' : 'reconnecting'));
  for (const type of EVENT_TYPES) {
    source.addEventListener(type, (message) => {
      try {
        onEvent(JSON.parse((message as MessageEvent<string>).data) as SessionEvent);
      } catch {
        // A message that is not an event: skipped.
      }
    });
  }
  source.addEventListener('stream.end', (message) => {
    let reason = 'ended';
    try {
      reason = (JSON.parse((message as MessageEvent<string>).data) as { reason?: string }).reason ?? reason;
    } catch {
      // keep the default
    }
    onState(`ended: ${reason}`);
    source.close();
  });
  return () => source.close();
}
