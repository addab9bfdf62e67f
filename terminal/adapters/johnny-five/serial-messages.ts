/**
 * The serial line between the panel's two threads. serialport's native poller runs on the process's main
 * event loop whichever thread opened the port (@serialport/bindings-cpp registers it on uv_default_loop), so
 * a port opened in a worker thread calls back into that worker from the main thread and aborts the process.
 * The port therefore lives in the main thread (its I/O is asynchronous: it never holds up a tap) and
 * johnny-five, whose LCD driver busy-waits, stays in the worker; bytes cross between them in these messages.
 * `link` numbers each opening of the port, so late events of a closed one are recognised and dropped.
 */
export type SerialRequest =
  | { type: 'serial-open'; link: number; path: string; baudRate: number }
  | { type: 'serial-write'; link: number; bytes: Uint8Array }
  | { type: 'serial-close'; link: number };

export type SerialEvent =
  | { type: 'serial-opened'; link: number }
  | { type: 'serial-data'; link: number; bytes: Uint8Array }
  | { type: 'serial-closed'; link: number; disconnected: boolean }
  | { type: 'serial-error'; link: number; message: string };
