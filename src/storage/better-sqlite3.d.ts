// The part of better-sqlite3's API this project uses (the package ships no types, and
// @types/better-sqlite3 is not installed).
declare module 'better-sqlite3' {
  namespace Database {
    interface RunResult {
      changes: number;
      lastInsertRowid: number | bigint;
    }
    interface Statement<Params extends unknown[] = unknown[]> {
      run(...params: Params): RunResult;
      get(...params: Params): unknown;
      all(...params: Params): unknown[];
      pluck(on?: boolean): this;
      raw(on?: boolean): this;
    }
    interface Database {
      readonly open: boolean;
      readonly inTransaction: boolean;
      prepare<Params extends unknown[] = unknown[]>(sql: string): Statement<Params>;
      /** The function wrapped in BEGIN/COMMIT; `.immediate` begins with BEGIN IMMEDIATE. */
      transaction<F extends (...args: never[]) => unknown>(fn: F): F & { deferred: F; immediate: F; exclusive: F };
      pragma(sql: string, options?: { simple?: boolean }): unknown;
      exec(sql: string): this;
      close(): this;
    }
  }
  interface DatabaseConstructor {
    new (filename: string, options?: { readonly?: boolean; fileMustExist?: boolean; timeout?: number }): Database.Database;
  }
  const Database: DatabaseConstructor;
  export = Database;
}
