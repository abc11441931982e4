// The live event list of the selected locker. The words are the server's (event.words):
// the page never words an event itself, so the panel and the console always agree.

const KEEP = 300;

export class EventLog {
  constructor(list, announcer, showDetails) {
    this.list = list;
    this.announcer = announcer;
    this.showDetails = showDetails;
    this.events = [];
  }

  add(id, event) {
    this.events.push({ id, event });
    if (this.events.length > 5 * KEEP) this.events.splice(0, this.events.length - 5 * KEEP);
  }

  /** A visible marker where events were lost (the stream's ring no longer held them). */
  gap(lockerId) {
    this.events.push({ id: 0, event: { lockerId, at: Date.now(), type: 'notice', words: { tag: 'gap', text: 'events were missed while disconnected', level: 'alarm' } } });
  }

  /** Alarms are spoken by screen readers as they happen. */
  announce(event) {
    if (event.words?.level !== 'alarm') return;
    this.announcer.textContent = `${event.lockerId}: ${event.words.text}`;
  }

  render(lockerId) {
    const details = this.showDetails();
    const shown = this.events.filter(({ event }) => event.lockerId === lockerId && event.words && (details || event.words.level !== 'detail')).slice(-KEEP);
    const items = shown.reverse().map(({ id, event }) => {
      const li = document.createElement('li');
      li.className = `level-${event.words.level}`;
      if (id) li.dataset.eventId = String(id);
      li.dataset.type = event.type;
      const time = document.createElement('time');
      time.dateTime = new Date(event.at).toISOString();
      time.textContent = new Date(event.at).toISOString().slice(11, 23);
      const tag = document.createElement('span');
      tag.className = 'tag';
      tag.textContent = event.words.tag;
      const text = document.createElement('span');
      text.className = 'text';
      text.textContent = event.words.text;
      li.append(time, ' ', tag, ' ', text);
      return li;
    });
    this.list.replaceChildren(...items);
  }
}
