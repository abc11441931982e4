// What every test broker offers, so one suite runs against the embedded aedes broker and
// against a real Mosquitto (files named *.mosquitto.test.ts).

export interface BrokerHarness {
  readonly name: 'aedes' | 'mosquitto';
  readonly port: number;
  readonly url: string;
  /** MQTT protocol version the broker speaks best: aedes 1.x is 3.1.1 only, Mosquitto 5. */
  readonly protocolVersion: 4 | 5;
  /** Hard stop: connections cut without DISCONNECT (SIGKILL for Mosquitto). */
  kill(): Promise<void>;
  /** Start again on the same port (after kill). */
  restart(): Promise<void>;
  /** Stop for good and remove temp files. */
  close(): Promise<void>;
}
