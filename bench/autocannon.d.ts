// autocannon ships no types; the bench uses its one entry point (see load.ts).
declare module 'autocannon' {
  const autocannon: (options: object) => Promise<unknown>;
  export default autocannon;
}
