import type { BeepPattern, Clock, DisplayMessage, Indicator } from '../types.js';

export type IndicatorEvent =
  | { type: 'message'; message: DisplayMessage; at: number }
  | { type: 'beep'; pattern: BeepPattern; at: number };

/** Records everything shown and beeped, with Clock.now() timestamps, for assertions. */
export class SimulatedIndicator implements Indicator {
  private readonly events: IndicatorEvent[] = [];

  constructor(
    private readonly clock: Clock,
    private readonly historyLimit = 10_000,
  ) {}

  show(message: DisplayMessage): void {
    this.record({ type: 'message', message: { ...message }, at: this.clock.now() });
  }

  beep(pattern: BeepPattern): void {
    this.record({ type: 'beep', pattern, at: this.clock.now() });
  }

  history(): readonly IndicatorEvent[] {
    return [...this.events];
  }

  /** The last event of any kind. */
  last(): IndicatorEvent | undefined {
    return this.events.at(-1);
  }

  /** What the display shows right now. */
  lastMessage(): DisplayMessage | undefined {
    for (let i = this.events.length - 1; i >= 0; i--) {
      const event = this.events[i];
      if (event?.type === 'message') return event.message;
    }
    return undefined;
  }

  messages(): readonly DisplayMessage[] {
    return this.events.flatMap((e) => (e.type === 'message' ? [e.message] : []));
  }

  beeps(): readonly BeepPattern[] {
    return this.events.flatMap((e) => (e.type === 'beep' ? [e.pattern] : []));
  }

  private record(event: IndicatorEvent): void {
    this.events.push(event);
    if (this.events.length > this.historyLimit) this.events.shift();
  }

  clearHistory(): void {
    this.events.length = 0;
  }
}
