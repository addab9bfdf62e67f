import { createRequire } from 'node:module';
import { createConnection, isIP } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { Duplex } from 'node:stream';
import type { IClientOptions, MqttClient } from 'mqtt';

/**
 * An MQTT.js client for the gateway's URL. For `mqtt://` and `mqtts://` (also `tcp://` and `tls://`) the
 * socket is opened here, as MQTT.js's own TCP and TLS transports open it (default ports 1883 and 8883, the
 * host name for SNI and certificate checks). MQTT.js's `connect()` would load every transport it knows on its
 * first call (WebSocket, SOCKS proxy, ...): tens of milliseconds of a terminal's start and memory it never
 * uses. WebSocket URLs still go through `connect()`.
 *
 * MQTT.js is CommonJS and is required as such: imported from ESM, Node would first scan its chain of
 * re-exports for named exports, which doubles the time it takes to load.
 */
const require = createRequire(import.meta.url);
type Mqtt = typeof import('mqtt');

export function openMqttClient(url: string, options: IClientOptions): MqttClient {
  const parsed = new URL(url);
  const protocol = parsed.protocol.replace(/:$/, '');
  const mqtt = require('mqtt') as Mqtt;
  if (protocol === 'ws' || protocol === 'wss') return mqtt.connect(url, options);
  const secure = protocol === 'mqtts' || protocol === 'tls';
  // URL keeps IPv6 literals in brackets; sockets want them bare.
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1') || 'localhost';
  const port = parsed.port ? Number(parsed.port) : secure ? 8883 : 1883;
  const build = (client: MqttClient): Duplex => {
    if (!secure) return createConnection({ host, port });
    const rejectUnauthorized = options.rejectUnauthorized !== false;
    // key and cert: the terminal's client certificate, when it logs in with one (mutual TLS).
    const socket = tlsConnect({ host, port, ca: options.ca, key: options.key, cert: options.cert, rejectUnauthorized, ...(isIP(host) === 0 ? { servername: host } : {}) });
    const onTlsError = (err: Error) => {
      if (rejectUnauthorized) client.emit('error', err);
      socket.end();
    };
    socket.on('error', onTlsError);
    socket.on('secureConnect', () => {
      if (rejectUnauthorized && !socket.authorized) socket.emit('error', new Error('TLS not authorized'));
      else socket.removeListener('error', onTlsError);
    });
    return socket;
  };
  const client = new mqtt.MqttClient(build, { ...options, protocol: secure ? 'mqtts' : 'mqtt', host, port });
  // As MQTT.js's connect() does: errors are reported through the client's own listeners, never thrown.
  client.on('error', () => {});
  return client;
}
