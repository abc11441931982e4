import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import type { Logger } from 'pino';
import { parseCommand } from './commands.js';
import { formatSessionEvent } from './event-format.js';
import type { SimSession } from './sim-session.js';

// The technician console: one command per line on `input`, the lockers' reactions printed
// as they happen. Commands go to the current locker ('use <locker>' changes it) or, with
// an '@<locker> ' prefix, to the named one for that line. Everything goes through the
// SimSession, as the web panel does. Lines are handled one at a time, in order (so `wait`
// in a piped script means what it says), and nothing typed can throw out of here: a bad
// line or a failing command prints an error and the console carries on.

export interface ConsoleOptions {
  session: SimSession;
  input: Readable;
  output: Writable;
  /** Show a prompt and keep it below event lines: on for a terminal, off for a pipe. */
  interactive: boolean;
  logger: Logger;
}

export interface RunningConsole {
  /** Settles when the user quits or the input ends. */
  done: Promise<'quit' | 'end-of-input'>;
  /** Stops reading (e.g. on SIGINT); `done` then settles. */
  close(): void;
}

export function startConsole(options: ConsoleOptions): RunningConsole {
  const { session, output, interactive } = options;
  const log = options.logger.child({ component: 'console' });
  let current = session.lockerIds()[0] ?? '';
  const prompt = (): string => `${current}> `;
  const rl = createInterface({ input: options.input, output, terminal: interactive, prompt: prompt() });
  const several = session.lockerIds().length > 1;

  let busy = false;
  const print = (line: string): void => {
    if (interactive && !busy) {
      // An event between commands: clear the half-typed prompt line, print, then redraw
      // the prompt with what was typed.
      output.write(`\r\x1b[K${line}\n`);
      rl.prompt(true);
    } else {
      output.write(`${line}\n`);
    }
  };
  const unsubscribe = session.subscribe((event) => {
    const line = formatSessionEvent(event, { withLocker: several });
    if (line !== undefined) print(line);
  });

  /** Handles one line; 'quit' ends the console. */
  const handle = async (line: string): Promise<'quit' | undefined> => {
    let target = current;
    let text = line.trim();
    const prefixed = /^@(\S+)\s*(.*)$/.exec(text);
    if (prefixed !== null) {
      const id = session.resolveLockerId(prefixed[1] ?? '');
      if (id === undefined) {
        print(`error: no locker '${prefixed[1] ?? ''}' ('lockers' lists them)`);
        return undefined;
      }
      target = id;
      text = prefixed[2] ?? '';
    }
    const parsed = parseCommand(text);
    if (parsed.ok && parsed.command?.name === 'quit') return 'quit';
    if (parsed.ok && parsed.command?.name === 'use') {
      const id = session.resolveLockerId(parsed.command.lockerId);
      if (id === undefined) print(`error: no locker '${parsed.command.lockerId}' ('lockers' lists them)`);
      else {
        current = id;
        rl.setPrompt(prompt());
        print(`now at ${id}`);
      }
      return undefined;
    }
    for (const out of await session.run(target, text)) print(out);
    return undefined;
  };

  const done = (async (): Promise<'quit' | 'end-of-input'> => {
    print(`technician console: type 'help' for the commands, 'lockers' for the lockers, 'quit' to stop them; commands go to ${current}`);
    if (interactive) rl.prompt();
    try {
      for await (const line of rl) {
        busy = true;
        try {
          if ((await handle(line)) === 'quit') return 'quit';
        } catch (err) {
          log.warn({ err }, 'console.command_failed');
          print(`error: ${err instanceof Error ? err.message : String(err)}`);
        }
        busy = false;
        if (interactive) rl.prompt();
      }
      return 'end-of-input';
    } finally {
      unsubscribe();
      rl.close();
    }
  })();

  return { done, close: () => rl.close() };
}
