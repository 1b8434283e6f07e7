// CRC-32 (IEEE 802.3, the one zlib.crc32 computes) of a string's UTF-8 bytes. The server and
// the Python client pick a user's bets shard with it, so the browser must agree bit for bit.

const TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let bit = 0; bit < 8; bit++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

export function crc32(text) {
  let crc = 0xffffffff;
  for (const byte of new TextEncoder().encode(text)) {
    crc = TABLE[(crc ^ byte) & 0xff] ^ (crc >>> 8);
  }
  return (crc ^ 0xffffffff) >>> 0;
}

/** The shard channel number a user's bets always go through. */
export function betsShard(userId, shards) {
  return crc32(userId) % shards;
}
