// RFC 9110 §13.1.2: If-None-Match is a list of entity tags (or `*`) compared weakly: `W/"x"`
// matches `"x"`. Caches and proxies that compress a response weaken its tag, and a client
// may hold several: an exact string compare answered all of them with the full document.

/** Whether an If-None-Match header value names `etag` (a strong tag, quoted), or is `*`. */
export function ifNoneMatchHits(header: string | string[] | undefined, etag: string): boolean {
  if (header === undefined) return false;
  const value = Array.isArray(header) ? header.join(',') : header;
  if (value.trim() === '*') return true;
  const want = opaque(etag);
  // Tags are quoted and may not contain a quote, so every quoted run is one tag's opaque part.
  for (const m of value.matchAll(/(?:W\/)?"([^"]*)"/g)) if (m[1] === want) return true;
  return false;
}

function opaque(tag: string): string {
  const t = tag.startsWith('W/') ? tag.slice(2) : tag;
  return t.startsWith('"') && t.endsWith('"') && t.length >= 2 ? t.slice(1, -1) : t;
}
