// tether/client: a TypeScript client that manages the bearer and the session for you.
export { TetherClient, type TetherClientOptions, type Credentials, type BatchCall, type BatchOutcome } from './tetherClient.ts';
export { TetherError, type Problem } from './errors.ts';
export type { MethodMap, MethodName, ParamsOf, ResultOf } from './methods.ts';
