/**
 * A JSON answer as tests read it: any field at any depth can be read as an object, a list or a string
 * without a cast. The type promises nothing (a field that is absent reads as undefined at run time and the
 * assertion says so); it only spares the tests an `any`.
 */
export interface JsonObject {
  readonly [field: string]: Json;
}
export type Json = JsonObject & readonly Json[] & string;
