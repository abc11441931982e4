import type { Key } from '@locker/hal/types.js';
import { keypadEntryStep, keypadIdle, type KeypadEntryConfig, type KeypadEntryEffect, type KeypadEntryInput, type KeypadEntryState } from '../core/keypad-entry.js';
import type { Logger } from '../logger.js';
import type { CourierFlow } from './courier-flow.js';
import type { Display } from './display.js';
import type { PickupFlow } from './pickup-flow.js';
import type { NamedTimers } from './timers.js';

// Routes key presses: to the courier session when it wants them (Cancel, and re-slot keys
// only after that courier prefix, never while a customer is typing), otherwise to the keypad-entry machine, whose complete code
// goes to the pickup flow. The code exists only inside the 'submit' effect.
export class KeypadInput {
  private state: KeypadEntryState = keypadIdle;

  constructor(
    private readonly deps: { display: Display; timers: NamedTimers; pickup: PickupFlow; courier: CourierFlow; config: KeypadEntryConfig; log: Logger },
  ) {}

  onKey(key: Key): void {
    if (this.deps.courier.wantsKey(key, this.state.kind === 'typing')) {
      this.deps.courier.onKey(key);
      return;
    }
    this.step({ type: 'key', key });
  }

  /** Forgets a half-typed code (after an error in a handler). */
  reset(): void {
    this.state = keypadIdle;
    this.deps.timers.cancel('keypad-idle');
  }

  private step(input: KeypadEntryInput): void {
    const { state, effects } = keypadEntryStep(this.state, input, this.deps.config);
    this.state = state;
    for (const effect of effects) this.execute(effect);
  }

  private execute(effect: KeypadEntryEffect): void {
    const { display, timers, pickup, log } = this.deps;
    switch (effect.type) {
      case 'show':
        // Errors go back to the idle prompt by themselves; prompts stay while typing.
        if (effect.message.tone === 'error') display.flash(effect.message);
        else display.show(effect.message);
        return;
      case 'beep':
        display.beep(effect.pattern);
        return;
      case 'start-idle-timer':
        timers.start('keypad-idle', effect.ms, () => this.step({ type: 'idle-timeout' }));
        return;
      case 'cancel-idle-timer':
        timers.cancel('keypad-idle');
        return;
      case 'submit':
        pickup.onCode(effect.code);
        return;
      case 'wrong-length':
        log.info({ length: effect.length }, 'keypad.wrong-length');
        return;
    }
  }
}
