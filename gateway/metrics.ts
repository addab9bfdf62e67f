import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The gateway's Prometheus metrics, on a registry of its own (several gateways may run in one process). */
export function createGatewayMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'ciao_gateway_process_' });
  const m = {
    registry,
    tapsReceived: new Counter({ name: 'ciao_gateway_taps_received_total', help: 'Tap messages received from terminals', registers: [registry] }),
    tapsStored: new Counter({ name: 'ciao_gateway_taps_stored_total', help: 'Taps committed for the first time', registers: [registry] }),
    tapsDuplicate: new Counter({ name: 'ciao_gateway_taps_duplicate_total', help: 'Taps received again after being stored (acked again, stored once)', registers: [registry] }),
    tapsRejected: new Counter({ name: 'ciao_gateway_taps_rejected_total', help: 'Taps rejected and quarantined, by reason', labelNames: ['reason'], registers: [registry] }),
    enrichment: new Counter({ name: 'ciao_gateway_taps_enrichment_total', help: 'Stored taps by enrichment outcome', labelNames: ['status'], registers: [registry] }),
    commitBatchSize: new Histogram({ name: 'ciao_gateway_commit_batch_size', help: 'Taps per group commit', buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000], registers: [registry] }),
    commitDuration: new Histogram({ name: 'ciao_gateway_commit_duration_seconds', help: 'Time of one group commit transaction incl. fsync', buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 1], registers: [registry] }),
    commitFailures: new Counter({ name: 'ciao_gateway_commit_failures_total', help: 'Group commits that failed (nothing acked)', labelNames: ['code'], registers: [registry] }),
    ackLatency: new Histogram({ name: 'ciao_gateway_ack_latency_seconds', help: 'From tap arrival to its ack being published', buckets: [0.001, 0.002, 0.005, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 1], registers: [registry] }),
    terminalsOnline: new Gauge({ name: 'ciao_gateway_terminals_online', help: 'Terminals connected now', registers: [registry] }),
    authFailures: new Counter({ name: 'ciao_gateway_auth_failures_total', help: 'Refused connection attempts, by reason', labelNames: ['reason'], registers: [registry] }),
    aclDenied: new Counter({ name: 'ciao_gateway_acl_denied_total', help: 'Publish or subscribe refused by the ACL', labelNames: ['action'], registers: [registry] }),
    clientErrors: new Counter({ name: 'ciao_gateway_client_errors_total', help: 'Connections closed by a broker guard: oversized or malformed packet length, too deep topic, socket not drained', labelNames: ['reason'], registers: [registry] }),
    registrationsAppended: new Counter({ name: 'ciao_gateway_registrations_appended_total', help: 'Registrations appended for the forwarder', registers: [registry] }),
  };
  return m;
}

export type GatewayMetrics = ReturnType<typeof createGatewayMetrics>;
