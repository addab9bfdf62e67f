/**
 * What a refusal says, for tests that check an operation was refused for the right reason: its problems as
 * "field rule" (problem+json), or its error code when it has no problems. An error with neither is thrown
 * again (it is not a refusal but a failure); an operation that succeeds fails the test.
 */
export async function refusal(p: Promise<unknown>): Promise<string[] | string> {
  try {
    await p;
  } catch (err) {
    const e = err as { code?: string; problems?: Array<{ field: string; rule: string }> };
    if (e.problems) return e.problems.map((x) => `${x.field} ${x.rule}`);
    if (e.code) return e.code;
    throw err;
  }
  throw new Error('not refused');
}
