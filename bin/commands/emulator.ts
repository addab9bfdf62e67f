import type { Command } from 'commander';

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

export function register(program: Command): void {
  program
    .command('emulator')
    .description('Run the ONSS PresenceRegistration web service emulator alone')
    .option('--port <n>', 'TCP port to listen on (0: any free port)', '8443')
    .option('--host <address>', 'address to listen on', '127.0.0.1')
    .option('--db <file>', 'SQLite file keeping everything received', './onss-emulator.sqlite')
    .option('--clients <file>', 'JSON list of clients and their public keys [{clientId, publicKeyPem | publicKeyFile | jwk}]')
    .option('--declarations <file>', 'JSON file of known declarations and companies, for remarks (see docs/onss.md)')
    .option('--tls-cert <file>', 'serve HTTPS with this certificate (PEM); needs --tls-key')
    .option('--tls-key <file>', 'private key (PEM) of --tls-cert')
    .option('--token-ttl <seconds>', 'access token lifetime', '600')
    .option('--fault <spec>', 'inject a fault, repeatable: latency=500ms, error-rate=0.1, unavailable=30s[:503], rate-limit=10s[:RETRY_AFTER], reset-rate=0.1, reset-count=N, hangup-rate=0.1, hangup-count=N, expire-tokens', collect, [])
    .addHelpText('after', `
Endpoints: POST /REST/oauth/v5/token, POST /REST/presenceRegistration/v1/presenceRegistrations/registerInBulk,
GET /REST/presenceRegistration/v1/presenceRegistrations?clientReference=...|ssin=...|enterpriseNumber=...,
GET /REST/presenceRegistration/v1/presenceRegistrations/{id}.
Admin (tests): GET|PUT|DELETE /admin/faults, POST /admin/clients, GET /admin/stats, GET /admin/registrations.`)
    .action(async (opts: { port: string; host: string; db: string; clients?: string; declarations?: string; tokenTtl: string; fault: string[]; tlsCert?: string; tlsKey?: string }) => {
      const { startEmulator, parseFaultFlags, loadKnownData, loadClients } = await import('../../simulator/emulator/index.ts');
      const port = Number(opts.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port: '${opts.port}' is not a port number (0-65535)`);
      const tokenTtlSeconds = Number(opts.tokenTtl);
      if (!Number.isInteger(tokenTtlSeconds) || tokenTtlSeconds < 1) throw new Error(`--token-ttl: '${opts.tokenTtl}' must be a whole number of seconds`);
      if (!!opts.tlsCert !== !!opts.tlsKey) throw new Error('--tls-cert and --tls-key go together');
      const { readFileSync } = await import('node:fs');
      const tls = opts.tlsCert && opts.tlsKey ? { certPem: readFileSync(opts.tlsCert, 'utf8'), keyPem: readFileSync(opts.tlsKey, 'utf8') } : undefined;
      const emulator = await startEmulator({
        tls,
        port,
        host: opts.host,
        dbPath: opts.db,
        clients: opts.clients ? loadClients(opts.clients) : [],
        knownData: opts.declarations ? loadKnownData(opts.declarations) : undefined,
        faults: parseFaultFlags(opts.fault),
        tokenTtlSeconds,
      });
      process.stdout.write(`ONSS emulator listening on ${emulator.url} (state in ${opts.db})\n`);
      await new Promise<void>((resolve) => {
        const stop = () => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          void emulator.stop().then(resolve);
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
    });
}
