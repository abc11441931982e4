import type { BeepPattern, DisplayMessage, Indicator } from '@locker/hal/types.js';
import { idleMessage } from '../core/keypad-entry.js';
import type { NamedTimers } from './timers.js';

// The display as the flows use it: a result message stays up for a while, then the idle
// prompt comes back by itself. Never pass a code or a token in a message.
export class Display {
  constructor(
    private readonly indicator: Indicator,
    private readonly timers: NamedTimers,
    private readonly codeLength: number,
    private readonly messageMs: number,
  ) {}

  /** Shows a message that stays until something else is shown. */
  show(message: DisplayMessage): void {
    this.timers.cancel('display-idle');
    this.indicator.show(message);
  }

  /** Shows a result, then the idle prompt after the configured time. */
  flash(message: DisplayMessage, beep?: BeepPattern): void {
    if (beep !== undefined) this.indicator.beep(beep);
    this.indicator.show(message);
    this.timers.start('display-idle', this.messageMs, () => this.indicator.show(idleMessage(this.codeLength)));
  }

  beep(pattern: BeepPattern): void {
    this.indicator.beep(pattern);
  }

  idle(): void {
    this.show(idleMessage(this.codeLength));
  }
}
