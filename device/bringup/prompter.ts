import { createInterface, type Interface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';

// Line-oriented prompts for the bring-up tool. Lines are queued as they arrive, so answers
// typed (or piped) ahead of a question are not lost, and end of input answers '' (= no)
// instead of hanging.

export interface Prompter {
  say(line: string): void;
  ask(question: string): Promise<string>;
  close(): void;
}

export function createPrompter(input: Readable, output: Writable): Prompter {
  const rl: Interface = createInterface({ input, terminal: false });
  const queued: string[] = [];
  const waiting: Array<(line: string) => void> = [];
  let ended = false;
  rl.on('line', (line) => {
    const next = waiting.shift();
    if (next === undefined) queued.push(line);
    else next(line);
  });
  rl.on('close', () => {
    ended = true;
    for (const w of waiting.splice(0)) w('');
  });
  return {
    say(line) {
      output.write(`${line}\n`);
    },
    ask(question) {
      output.write(`${question} `);
      const line = queued.shift();
      if (line !== undefined) return Promise.resolve(line.trim());
      if (ended) return Promise.resolve('');
      return new Promise((resolve) => waiting.push((l) => resolve(l.trim())));
    },
    close() {
      rl.close();
    },
  };
}

export const isYes = (answer: string): boolean => /^y(es)?$/i.test(answer);
