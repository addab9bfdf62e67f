import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { SUMMARY_END, SUMMARY_START, readResults, renderConsoleTable, replaceSummary, updatePerformanceDoc, writeResults, type RecordedResult } from '../../bench/lib/report.ts';
import { parseResultLine, RESULT_PREFIX, withVerdicts, type BenchResult } from '../../bench/lib/result.ts';
import { cpuModelFromCpuinfo, cpuTimesFromProcStat, stealPercentBetween } from '../../bench/lib/machine.ts';
import { describeMemory, residentOf } from '../../bench/lib/process-memory.ts';
import { histogramQuantileBound, metricValue } from '../../bench/lib/metrics-text.ts';
import { runBenchmarks, runChild, type BenchDefinition } from '../../bench/runner.ts';

const machine = { nproc: 2, memoryMiB: 4096, cpuModel: 'Test CPU @ 2.0GHz', node: 'v20.0.0', platform: 'linux-x64', hostname: 'h' };

function recorded(r: BenchResult, measuredAt = '2026-11-26T14:00:00.000Z'): RecordedResult {
  return { ...withVerdicts(r), measuredAt, size: 'quick', machine };
}

const ingest = (value: number | null): BenchResult => ({
  id: 'gateway-ingest',
  title: 'gateway durable ingest',
  status: value === null ? 'not-run' : 'ok',
  ...(value === null ? { reason: 'gateway/main.ts does not exist yet' } : {}),
  figures: [{ name: 'gateway durable ingest', value, unit: 'taps/s', target: { op: '>=', value: 20000, text: '>= 20,000 taps/s' } }],
});
const latency: BenchResult = {
  id: 'ack-latency',
  title: 'ack latency',
  status: 'ok',
  figures: [{ name: 'ack latency p99', value: 31.5, unit: 'ms', target: { op: '<=', value: 25, text: '<= 25 ms' } }],
};

const OTHERS_TOP = '# Performance\n\nIntro written by hand | with a pipe.\n\n';
const OTHERS_BOTTOM = '\n\n## Ingest design\n\nGroup commit notes, kept as written.\n\n## Drain\n\nMore notes.\n';

describe('bench result writer', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ciao-bench-report-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('regenerates only the section between the markers and keeps the other sections byte for byte', () => {
    const doc = join(dir, 'PERFORMANCE.md');
    writeFileSync(doc, `${OTHERS_TOP}${SUMMARY_START}\nold table\n${SUMMARY_END}${OTHERS_BOTTOM}`);
    updatePerformanceDoc(doc, [recorded(ingest(23456)), recorded(latency)]);
    const text = readFileSync(doc, 'utf8');
    expect(text.startsWith(`${OTHERS_TOP}${SUMMARY_START}\n`)).toBe(true);
    expect(text.endsWith(`${SUMMARY_END}${OTHERS_BOTTOM}`)).toBe(true);
    expect(text).not.toContain('old table');
    expect(text).toContain('| gateway durable ingest | 23,456 taps/s | >= 20,000 taps/s | met | quick | 2026-11-26 14:00 | 2 CPUs, 4.0 GiB, Test CPU @ 2.0GHz |');
    expect(text).toContain('| ack latency p99 | 31.5 ms | <= 25 ms | NOT met |');
    expect(text.split(SUMMARY_START)).toHaveLength(2);

    // A second run replaces the section again without growing the file or touching the rest.
    updatePerformanceDoc(doc, [recorded(ingest(null))]);
    const again = readFileSync(doc, 'utf8');
    expect(again.split(SUMMARY_START)).toHaveLength(2);
    expect(again.endsWith(`${SUMMARY_END}${OTHERS_BOTTOM}`)).toBe(true);
    expect(again).toContain('| gateway durable ingest | not run |');
    expect(again).toContain('gateway durable ingest: not run: gateway/main.ts does not exist yet');
    expect(again).not.toContain('23,456');
  });

  it('puts the section before the first section of a file without markers, and creates a missing file', () => {
    const doc = join(dir, 'PERFORMANCE.md');
    const before = '# Performance\n\nHand-written intro.\n\n';
    const after = '## Terminal\n\nTerminal notes.\n';
    writeFileSync(doc, before + after);
    updatePerformanceDoc(doc, [recorded(latency)]);
    const text = readFileSync(doc, 'utf8');
    expect(text.startsWith(`${before}${SUMMARY_START}\n`)).toBe(true);
    expect(text.endsWith(`${SUMMARY_END}\n\n${after}`)).toBe(true);

    const introOnly = join(dir, 'INTRO.md');
    writeFileSync(introOnly, '# Performance\n\nHand-written intro.\n');
    updatePerformanceDoc(introOnly, [recorded(latency)]);
    expect(readFileSync(introOnly, 'utf8')).toMatch(/^# Performance\n\nHand-written intro\.\n\n<!-- bench:summary:start -->[\s\S]*<!-- bench:summary:end -->\n$/);

    const fresh = join(dir, 'docs', 'NEW.md');
    updatePerformanceDoc(fresh, [recorded(latency)]);
    expect(readFileSync(fresh, 'utf8')).toMatch(/^# Performance\n\n<!-- bench:summary:start -->/);
  });

  it('refuses a file with only one marker rather than guessing where the section ends', () => {
    expect(() => replaceSummary(`# P\n${SUMMARY_START}\nno end`, `${SUMMARY_START}\nx\n${SUMMARY_END}`)).toThrow(/only one of the markers/);
  });

  it('merges results.json: a partial run replaces its own benchmarks and keeps the others', () => {
    const path = join(dir, 'results.json');
    writeResults(path, [recorded(ingest(15000), '2026-11-26T10:00:00.000Z'), recorded(latency, '2026-11-26T10:00:00.000Z')]);
    writeResults(path, [recorded(ingest(21000), '2026-11-26T11:00:00.000Z')]);
    const file = readResults(path)!;
    expect(file.results.map((r) => r.id)).toEqual(['gateway-ingest', 'ack-latency']);
    expect(file.results[0]!.figures[0]!.value).toBe(21000);
    expect(file.results[0]!.figures[0]!.met).toBe(true);
    expect(file.results[1]!.measuredAt).toBe('2026-11-26T10:00:00.000Z');
  });

  it('prints a console table with verdicts and the reason of what did not run', () => {
    const table = renderConsoleTable([withVerdicts(ingest(null)), withVerdicts(latency)]);
    expect(table).toMatch(/gateway durable ingest\s+gateway durable ingest\s+not run\s+>= 20,000 taps\/s\s+not run/);
    expect(table).toMatch(/ack latency p99\s+31\.5 ms\s+<= 25 ms\s+NOT met/);
    expect(table).toContain('gateway durable ingest: not run: gateway/main.ts does not exist yet');
  });

  it('reads the CPU model from /proc/cpuinfo text and the result line from a child', () => {
    expect(cpuModelFromCpuinfo('processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Processor\nflags\t: fpu\n')).toBe('Intel(R) Xeon(R) Processor');
    expect(parseResultLine(`progress\n${RESULT_PREFIX}${JSON.stringify(latency)}\n`)).toEqual(latency);
    expect(parseResultLine('no result here\n')).toBeUndefined();
  });

  it('tells how much CPU time the host took while a benchmark ran, from /proc/stat', () => {
    const before = cpuTimesFromProcStat('cpu  1000 10 300 5000 20 0 5 100 0 0\ncpu0 500 5 150 2500 10 0 2 50 0 0\nintr 1\n');
    const after = cpuTimesFromProcStat('cpu  1600 10 400 5300 20 0 5 400 0 0\ncpu0 800 5 200 2650 10 0 2 200 0 0\n');
    expect(before).toEqual({ total: 6435, steal: 100 });
    // 1,300 ticks passed, 300 of them stolen.
    expect(stealPercentBetween(before, after)).toBe(23.1);
    expect(stealPercentBetween(after, before)).toBeUndefined();
    expect(cpuTimesFromProcStat('cpu  1 2 3\n')).toBeUndefined();
    expect(cpuTimesFromProcStat('no cpu line')).toBeUndefined();
  });

  it("reads a gateway's heap and external memory from its /metrics text, and a process's resident memory from /proc", () => {
    const text = [
      '# HELP ciao_gateway_process_nodejs_heap_size_used_bytes Process heap size used from Node.js in bytes.',
      '# TYPE ciao_gateway_process_nodejs_heap_size_used_bytes gauge',
      'ciao_gateway_process_nodejs_heap_size_used_bytes 73400320',
      'ciao_gateway_process_nodejs_heap_size_used_bytes_total 1',
      'ciao_gateway_process_nodejs_external_memory_bytes{kind="x"} 1.2e7',
    ].join('\n');
    expect(metricValue(text, 'ciao_gateway_process_nodejs_heap_size_used_bytes')).toBe(73400320);
    expect(metricValue(text, 'ciao_gateway_process_nodejs_external_memory_bytes')).toBe(12_000_000);
    expect(metricValue(text, 'ciao_gateway_process_nodejs_heap_size_total_bytes')).toBeNull();
    const histogram = [
      'ciao_gateway_commit_duration_seconds_bucket{le="0.001"} 900',
      'ciao_gateway_commit_duration_seconds_bucket{le="0.005"} 985',
      'ciao_gateway_commit_duration_seconds_bucket{le="0.01"} 995',
      'ciao_gateway_commit_duration_seconds_bucket{le="+Inf"} 1000',
      'ciao_gateway_commit_duration_seconds_count 1000',
    ].join('\n');
    expect(histogramQuantileBound(histogram, 'ciao_gateway_commit_duration_seconds', 0.5)).toBe(0.001);
    expect(histogramQuantileBound(histogram, 'ciao_gateway_commit_duration_seconds', 0.99)).toBe(0.01);
    expect(histogramQuantileBound(histogram, 'ciao_gateway_commit_duration_seconds', 0.999)).toBe(Infinity);
    expect(histogramQuantileBound(histogram, 'ciao_gateway_ack_latency_seconds', 0.99)).toBeNull();
    const self = residentOf(process.pid);
    expect(self.rssMb).toBeGreaterThan(10);
    expect(self.hwmMb).toBeGreaterThanOrEqual(self.rssMb);
    expect(residentOf(2 ** 22 + 1)).toEqual({ rssMb: 0, hwmMb: 0 });
    expect(describeMemory({ rssMb: 310.5, hwmMb: 381, heapUsedMb: 70, heapTotalMb: 96, externalMb: null })).toBe('RSS 310.5 MB (high-water 381 MB), heap 70 MB used of 96 MB reserved (main thread)');
  });
});

describe('bench runner', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ciao-bench-runner-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const sink = () => {
    const s = new PassThrough();
    let text = '';
    s.on('data', (b: Buffer) => (text += b.toString()));
    return { stream: s, text: () => text };
  };

  it('runs each benchmark in a child process, reports a missing part as not run and a crash as failed, and writes both files', async () => {
    const ok = join(dir, 'ok.ts');
    writeFileSync(ok, `process.stderr.write('working\\n');\nprocess.stdout.write('some log line\\n');\nprocess.stdout.write(${JSON.stringify(RESULT_PREFIX)} + JSON.stringify({ id: 'ok', title: 'fine', status: 'ok', figures: [{ name: 'speed', value: process.argv.includes('--quick') ? 1 : 2, unit: '/s', target: { op: '>=', value: 1, text: '>= 1/s' } }] }) + '\\n');\n`);
    const crash = join(dir, 'crash.ts');
    writeFileSync(crash, `throw new Error('boom');\n`);
    const defs: BenchDefinition[] = [
      { id: 'ok', title: 'fine', file: ok, timeoutMs: { quick: 30_000, full: 30_000 } },
      { id: 'crash', title: 'crashing', file: crash, timeoutMs: { quick: 30_000, full: 30_000 } },
      { id: 'missing', title: 'needs a part', file: ok, needs: [join(dir, 'not-there.ts')], timeoutMs: { quick: 30_000, full: 30_000 } },
    ];
    const out = sink();
    const err = sink();
    const resultsPath = join(dir, 'results.json');
    const docPath = join(dir, 'PERFORMANCE.md');
    writeFileSync(docPath, `# Performance\n\n${SUMMARY_START}\n${SUMMARY_END}\n\n## Notes by others\n`);
    const results = await runBenchmarks({ size: 'quick', benchmarks: defs, resultsPath, docPath, out: out.stream, err: err.stream as never });

    expect(results.map((r) => [r.id, r.status])).toEqual([['ok', 'ok'], ['crash', 'failed'], ['missing', 'not-run']]);
    expect(results[0]!.figures[0]).toMatchObject({ value: 1, met: true });
    expect(results[1]!.reason).toMatch(/exited \(1\) without a result/);
    expect(results[2]!.reason).toMatch(/not-there\.ts does not exist yet/);
    expect(err.text()).toContain('working');
    expect(err.text()).toContain('some log line');
    expect(out.text()).toMatch(/fine\s+speed\s+1 \/s\s+>= 1\/s\s+met/);
    expect(readResults(resultsPath)!.results.map((r) => r.id)).toEqual(['ok', 'crash', 'missing']);
    const doc = readFileSync(docPath, 'utf8');
    expect(doc).toContain('| speed | 1 /s | >= 1/s | met | quick |');
    expect(doc).toContain('## Notes by others\n');
  });

  it('says which ids it knows when asked for an unknown one', async () => {
    await expect(runBenchmarks({ size: 'quick', only: ['nope'], write: false, out: sink().stream, err: sink().stream as never })).rejects.toThrow(/unknown benchmark nope; known: fsync, gateway-ingest/);
  });

  it('reports a benchmark that exceeds its time as failed', async () => {
    const slow = join(dir, 'slow.ts');
    writeFileSync(slow, 'setInterval(() => {}, 1000);\n');
    const r = await runChild({ id: 'slow', title: 'slow', file: slow, timeoutMs: { quick: 1500, full: 1500 } }, 'quick', sink().stream);
    expect(r.status).toBe('failed');
    expect(r.reason).toMatch(/timed out after 1.5 s/);
  });
});
