// The panel on the in-memory fake, for working on the page without a simulator:
//   npx tsx simulator/panel/testing/serve-fake.ts [port]
import { pino } from 'pino';
import { startPanelServer } from '../panel-server.js';
import { FakePanelPort } from './fake-panel-port.js';

const port = new FakePanelPort();
const server = await startPanelServer({ port, logger: pino({ level: 'warn' }), listenPort: Number(process.argv[2] ?? '0') });
process.stdout.write(`panel: ${server.url}\n`);
const stop = (): void => {
  port.close();
  void server.close().then(() => process.exit(0));
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
