// The session cache contract: Redis in production, an in-process map when REDIS_URL is unset.
// Both keep the same TTL semantics (seconds; ttl() answers -2 missing, -1 no expiry).

export interface Cache {
  readonly kind: 'redis' | 'memory';
  get(key: string): Promise<string | null>;
  /** Reads and slides the TTL in one round trip (Redis GETEX). */
  getAndSlide(key: string, ttlSeconds: number): Promise<string | null>;
  set(key: string, value: string, ttlSeconds: number): Promise<void>;
  del(...keys: string[]): Promise<void>;
  ttl(key: string): Promise<number>;
  /** Adds 1 and, on the first hit, sets the window; answers the count and the seconds left. */
  hit(key: string, windowSeconds: number): Promise<{ count: number; ttl: number }>;
  ping(): Promise<void>;
  close(): Promise<void>;
}
