import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import type { Logger } from 'pino';
import { executeCommand } from './command-executor.js';
import { parseCommand } from './commands.js';
import { formatEvent } from './event-format.js';
import type { LockerSim } from './locker-sim.js';
import type { RuntimeView } from './status-report.js';
import type { ParcelDesk } from './parcel-desk.js';

// The technician console: one command per line on `input`, the locker's reactions printed
// as they happen. Lines are handled one at a time, in order (so `wait` in a piped script
// means what it says), and nothing typed can throw out of here: a bad line or a failing
// command prints an error and the console carries on.

export interface ConsoleOptions {
  sim: LockerSim;
  input: Readable;
  output: Writable;
  /** Show a prompt and keep it below event lines: on for a terminal, off for a pipe. */
  interactive: boolean;
  view?: RuntimeView;
  /** Issues parcels for 'parcel' / 'courier'; built with the console's print function. */
  desk?: (print: (line: string) => void) => ParcelDesk;
  logger: Logger;
}

export interface RunningConsole {
  /** Settles when the user quits or the input ends. */
  done: Promise<'quit' | 'end-of-input'>;
  /** Stops reading (e.g. on SIGINT); `done` then settles. */
  close(): void;
}

const PROMPT = 'locker> ';

export function startConsole(options: ConsoleOptions): RunningConsole {
  const { sim, output, interactive } = options;
  const log = options.logger.child({ component: 'console' });
  const rl = createInterface({ input: options.input, output, terminal: interactive, prompt: PROMPT });

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
  const desk = options.desk?.(print);
  const unsubscribe = sim.events.on((event) => {
    const line = formatEvent(event);
    if (line !== undefined) print(line);
  });

  const done = (async (): Promise<'quit' | 'end-of-input'> => {
    print("technician console: type 'help' for the commands, 'quit' to stop the locker");
    if (interactive) rl.prompt();
    try {
      for await (const line of rl) {
        busy = true;
        const parsed = parseCommand(line);
        if (!parsed.ok) {
          print(`error: ${parsed.error}`);
        } else if (parsed.command !== undefined) {
          try {
            const context = { sim, print, ...(options.view === undefined ? {} : { view: options.view }), ...(desk === undefined ? {} : { desk }) };
            if ((await executeCommand(parsed.command, context)) === 'quit') return 'quit';
          } catch (err) {
            log.warn({ err, command: parsed.command.name }, 'console.command_failed');
            print(`error: ${err instanceof Error ? err.message : String(err)}`);
          }
        }
        busy = false;
        if (interactive) rl.prompt();
      }
      return 'end-of-input';
    } finally {
      desk?.close();
      unsubscribe();
      rl.close();
    }
  })();

  return { done, close: () => rl.close() };
}
