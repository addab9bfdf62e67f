import type { TerminalCredentials } from './credentials.ts';

/**
 * Load terminals created in a gateway's own database, as `ciao admin terminal add` would: `load-001`,
 * `load-002`, ... on a site of the caller's choice. A terminal that already exists gets a new secret, so
 * runs can be repeated on the same gateway. Meant for test and bench gateways, not a production site.
 */
export interface GatewayTerminalFactory {
  create(index: number): Promise<TerminalCredentials>;
  /** The gateway's MQTT URL when its config names a fixed port (port 0 cannot be known from the file). */
  url?: string;
  close(): Promise<void>;
}

export async function gatewayTerminalFactory(configPath: string, options: { siteId?: string; prefix?: string; width?: number } = {}): Promise<GatewayTerminalFactory> {
  const { loadGatewayConfig } = await import('../../gateway/config.ts');
  const { openGatewayStore, storeLocationOf } = await import('../../gateway/store/gateway-store.ts');
  const { addTerminal, getTerminal, rotateTerminalSecret, updateTerminal } = await import('../../gateway/site-data/terminals.ts');
  const config = loadGatewayConfig(configPath);
  // The gateway's store, whichever its config names: its SQLite file or its PostgreSQL database.
  const opened = await openGatewayStore(storeLocationOf(config), { migrate: true, maxConnections: 2, applicationName: 'ciao sim' });
  const store = opened.store;
  const prefix = options.prefix ?? 'load-';
  const width = options.width ?? 3;
  const host = config.mqtt.host === '0.0.0.0' || config.mqtt.host === '::' ? '127.0.0.1' : config.mqtt.host;
  return {
    url: config.mqtt.port !== 0 ? `mqtt://${host}:${config.mqtt.port}` : undefined,
    async create(index) {
      const id = `${prefix}${String(index + 1).padStart(width, '0')}`;
      if (await getTerminal(store, id)) {
        if (options.siteId) await updateTerminal(store, id, { siteId: options.siteId });
        return { id, secret: await rotateTerminalSecret(store, id) };
      }
      return { id, secret: (await addTerminal(store, { id, ...(options.siteId ? { siteId: options.siteId } : {}) })).secret };
    },
    close: () => opened.close(),
  };
}
