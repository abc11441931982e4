// A minimal server-sent-events reader for tests: what a browser's EventSource does with
// the stream (messages split on blank lines, `event:`, `id:`, `data:` fields, comments).

export interface SseMessage {
  event: string;
  id: string | undefined;
  data: string;
  /** A comment line (heartbeat), with no event. */
  comment: string | undefined;
}

export interface SseConnection {
  readonly status: number;
  readonly messages: SseMessage[];
  /** Resolves with the first message (already received or coming) that matches. */
  next(match: (m: SseMessage) => boolean, what: string, timeoutMs?: number): Promise<SseMessage>;
  close(): void;
}

export async function openSse(url: string, headers: Record<string, string>): Promise<SseConnection> {
  const abort = new AbortController();
  const res = await fetch(url, { headers, signal: abort.signal });
  const messages: SseMessage[] = [];
  const waiters = new Set<() => void>();
  let closed = false;
  if (res.body !== null && res.ok) {
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    void (async () => {
      let buffer = '';
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          let end: number;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            messages.push(parse(buffer.slice(0, end)));
            buffer = buffer.slice(end + 2);
            for (const wake of [...waiters]) wake();
          }
        }
      } catch {
        // aborted by close()
      }
    })();
  }
  return {
    status: res.status,
    messages,
    next(match, what, timeoutMs = 5_000) {
      return new Promise((resolve, reject) => {
        const check = (): boolean => {
          const found = messages.find(match);
          if (found === undefined) return false;
          waiters.delete(check);
          clearTimeout(timer);
          resolve(found);
          return true;
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no SSE message: ${what} (got ${messages.map((m) => m.event || `:${m.comment ?? ''}`).join(', ')})`));
        }, timeoutMs);
        if (!check()) waiters.add(check);
      });
    },
    close() {
      if (closed) return;
      closed = true;
      abort.abort();
    },
  };
}

function parse(block: string): SseMessage {
  const message: SseMessage = { event: '', id: undefined, data: '', comment: undefined };
  const data: string[] = [];
  for (const line of block.split('\n')) {
    if (line.startsWith(':')) message.comment = line.slice(1).trim();
    else if (line.startsWith('event: ')) message.event = line.slice(7);
    else if (line.startsWith('id: ')) message.id = line.slice(4);
    else if (line.startsWith('data: ')) data.push(line.slice(6));
  }
  message.data = data.join('\n');
  return message;
}
