// Where a key lives on Redis Cluster. A validated call reads its session, the state of its user,
// client and token, and the cache's change-log position in ONE script, and a cluster runs a script
// only on keys of one hash slot. So the cluster cache splits the key space into GROUPS slot groups,
// each named by a hash tag (`{g…}`) whose slot is spread evenly over the 16384: a session belongs to
// one group (by its hash), and everything its lookup reads is kept in that group with it: the
// group's own change-log position, and a copy of every user, client and token state key (the change
// log writes a state change into every group, each in the script that moves that group's position).
// A failover or restart of one shard then shows as that shard's groups being behind, and only they
// answer nothing until caught up. On a single Redis there is one group with no tag: the keys are the
// ones Tether always used.

/** Slot groups on a cluster: 16 keeps a change's fan-out small and spreads over 3-8 masters evenly. */
export const GROUPS = 16;
export const SLOTS = 16384;

// CRC16/XMODEM, the hash Redis Cluster takes the slot from (CLUSTER KEYSLOT).
const TABLE = (() => {
  const t = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << 8;
    for (let b = 0; b < 8; b++) c = c & 0x8000 ? ((c << 1) ^ 0x1021) & 0xffff : (c << 1) & 0xffff;
    t[i] = c;
  }
  return t;
})();

function crc16(text: string): number {
  let crc = 0;
  for (const byte of Buffer.from(text)) crc = ((crc << 8) & 0xffff) ^ TABLE[((crc >> 8) ^ byte) & 0xff];
  return crc;
}

/** The hash slot of a key, hash tags included (as CLUSTER KEYSLOT answers). */
export function keySlot(key: string): number {
  const open = key.indexOf('{');
  if (open !== -1) {
    const close = key.indexOf('}', open + 1);
    if (close > open + 1) return crc16(key.slice(open + 1, close)) % SLOTS;
  }
  return crc16(key) % SLOTS;
}

/**
 * The groups' hash tags: tag i is the first `{g<n>}` whose slot falls in the i-th sixteenth of the
 * slot space, so any even split of the slots over masters (what `redis-cli --cluster create` makes)
 * gives each master an even share of the groups.
 */
export const CLUSTER_TAGS: readonly string[] = Object.freeze(
  Array.from({ length: GROUPS }, (_, i) => {
    for (let n = 0; ; n++) {
      const tag = `{g${n}}`;
      if (Math.floor((keySlot(tag) * GROUPS) / SLOTS) === i) return tag;
    }
  }),
);

/** The group of a session key `session:<sha256 hex>` among `count` groups (its hash is uniform already). */
export function groupOfSession(key: string, count: number): number {
  if (count === 1) return 0;
  const hex = key.slice(key.indexOf(':') + 1, key.indexOf(':') + 9);
  const n = /^[0-9a-f]{8}$/.test(hex) ? parseInt(hex, 16) : crc16(key);
  return n % count;
}
