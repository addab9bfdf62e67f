import { parentPort, workerData } from 'node:worker_threads';
import { firmataIo, PanelDriver, type IoFactory, type PanelCommand } from './driver.ts';
import { RemoteSerialPort } from './remote-serial-port.ts';
import type { SerialEvent, SerialRequest } from './serial-messages.ts';
import type { BoardConfig } from '../../config.ts';

/**
 * The panel worker thread: owns johnny-five and firmata-io. The main thread posts commands and hears
 * buttons and a heartbeat, so a busy-waiting LCD write or a hung driver can never hold up a tap. The serial
 * port's bytes come and go through the main thread, which holds the port (see serial-messages.ts).
 */
export interface PanelWorkerData {
  config: BoardConfig;
  /** A module exporting `createIo(config)`: another Firmata-compatible IO plugin (tests use mock-firmata). */
  ioModule?: string;
  heartbeatMs: number;
}

export type WorkerToMain =
  | { type: 'alive' }
  | { type: 'button'; button: 'IN' | 'OUT' | 'BREAK' }
  | { type: 'connected' }
  | { type: 'disconnected'; reason: string }
  | { type: 'error'; message: string }
  | SerialRequest;

export type MainToWorker = { type: 'cmd'; cmd: PanelCommand } | { type: 'stop' } | SerialEvent;

const data = workerData as PanelWorkerData;
const port = parentPort!;
const send = (m: WorkerToMain) => port.postMessage(m);

/** The serial port of the current connection attempt: it lives in the main thread (see serial-messages.ts). */
let serial: RemoteSerialPort | null = null;
let createIo: IoFactory;
if (data.ioModule) {
  const mod = (await import(data.ioModule)) as { createIo: (c: BoardConfig) => IoFactory };
  createIo = mod.createIo(data.config);
} else {
  createIo = firmataIo(() => {
    serial = new RemoteSerialPort(send, data.config.port, data.config.baudRate);
    return serial;
  });
}

let driver: PanelDriver;
try {
  driver = new PanelDriver(data.config, createIo);
} catch (err) {
  send({ type: 'error', message: (err as Error).message });
  throw err;
}
driver.on('button', (button) => send({ type: 'button', button }));
driver.on('connected', () => send({ type: 'connected' }));
driver.on('disconnected', (reason) => send({ type: 'disconnected', reason }));
driver.on('error', (message) => send({ type: 'error', message }));

const heartbeat = setInterval(() => send({ type: 'alive' }), data.heartbeatMs);
port.on('message', (m: MainToWorker) => {
  if (m.type === 'cmd') driver.apply(m.cmd);
  else if (m.type === 'stop') {
    clearInterval(heartbeat);
    driver.stop();
    port.close();
  } else if (typeof m.type === 'string' && m.type.startsWith('serial-')) serial?.deliver(m as SerialEvent);
});
driver.start();
send({ type: 'alive' });
