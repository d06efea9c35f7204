/**
 * Group commit on SQLite (src/storage/sqlite-group-commit.ts), on a real database file with a
 * second connection watching: the writes of one event-loop turn share one transaction, nothing
 * is reported done before its commit, a taken unique key fails its own write only, any other
 * failure leaves nothing of the batch, and a connection inside someone else's transaction
 * sends the writes down their slow path. A gate (the WAL checkpointer's, here one the test
 * opens and closes) can hold a batch: its writes wait, later ones join it, and it commits once.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type BetterSqlite3 from 'better-sqlite3';
import { expect } from 'chai';
import { GroupCommit } from '../../src/storage/sqlite-group-commit';
import type { CommitGate } from '../../src/storage/sqlite-checkpointer';

describe('[sqlite] group commit of hot writes', () => {
  let dir: string;
  let writer: BetterSqlite3.Database;
  let watcher: BetterSqlite3.Database;
  let usable: boolean;
  let commits: GroupCommit;
  const insert = (key: string) => () => void writer.prepare('INSERT INTO t (k) VALUES (?)').run(key);
  const stored = (db: BetterSqlite3.Database) => (db.prepare('SELECT k FROM t ORDER BY k').raw(true).all() as string[][]).map((r) => r[0]);
  const noFallback = () => Promise.reject(new Error('the fallback ran'));

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'o2d-group-'));
    writer = new Database(join(dir, 'db.sqlite'));
    writer.pragma('journal_mode = WAL');
    writer.exec('CREATE TABLE t (k TEXT PRIMARY KEY)');
    watcher = new Database(join(dir, 'db.sqlite'));
    usable = true;
    commits = new GroupCommit(writer, () => usable);
  });

  afterEach(() => {
    writer.close();
    watcher.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the writes of one event-loop turn run in one transaction, which another connection sees only once committed', async () => {
    const seenByOthers: unknown[][] = [];
    const writes = ['a', 'b', 'c'].map((key) =>
      commits.run(() => {
        insert(key)();
        seenByOthers.push(stored(watcher));
        return writer.inTransaction;
      }, noFallback),
    );
    expect(stored(watcher), 'nothing is written before the turn ends').to.deep.equal([]);
    expect(await Promise.all(writes)).to.deep.equal([true, true, true]);
    // While the batch ran, the other connection saw none of it: one uncommitted transaction.
    expect(seenByOthers).to.deep.equal([[], [], []]);
    expect(stored(watcher)).to.deep.equal(['a', 'b', 'c']);
  });

  it('a write reports done only after its commit: by then another connection reads it', async () => {
    const readAfterDone = await commits.run(insert('x'), noFallback).then(() => stored(watcher));
    expect(readAfterDone).to.deep.equal(['x']);
  });

  it('a taken unique key fails that write alone; the others in its batch are stored', async () => {
    await commits.run(insert('taken'), noFallback);
    const outcomes = await Promise.allSettled([commits.run(insert('p'), noFallback), commits.run(insert('taken'), noFallback), commits.run(insert('q'), noFallback)]);
    expect(outcomes.map((o) => o.status)).to.deep.equal(['fulfilled', 'rejected', 'fulfilled']);
    expect(((outcomes[1] as PromiseRejectedResult).reason as { code: string }).code).to.equal('SQLITE_CONSTRAINT_PRIMARYKEY');
    expect(stored(watcher)).to.deep.equal(['p', 'q', 'taken']);
  });

  it('any other failure rolls the whole batch back and fails every write in it: nothing half-written', async () => {
    const outcomes = await Promise.allSettled([
      commits.run(insert('m'), noFallback),
      commits.run(() => {
        throw new Error('disk on fire');
      }, noFallback),
      commits.run(insert('n'), noFallback),
    ]);
    expect(outcomes.map((o) => o.status)).to.deep.equal(['rejected', 'rejected', 'rejected']);
    for (const outcome of outcomes) expect(((outcome as PromiseRejectedResult).reason as Error).message).to.equal('disk on fire');
    expect(stored(watcher)).to.deep.equal([]);
    expect(writer.inTransaction).to.equal(false);
    // The next batch works as usual.
    await commits.run(insert('after'), noFallback);
    expect(stored(watcher)).to.deep.equal(['after']);
  });

  it('writes queued while the connection is inside another transaction take their fallback, not the batch', async () => {
    usable = false;
    let fastPathRan = false;
    const answer = await commits.run(
      () => {
        fastPathRan = true;
        return 'fast';
      },
      async () => 'fallback',
    );
    expect(answer).to.equal('fallback');
    expect(fastPathRan).to.equal(false);
  });

  it('writes in separate turns commit separately, in order', async () => {
    await commits.run(insert('1'), noFallback);
    expect(stored(watcher)).to.deep.equal(['1']);
    await commits.run(insert('2'), noFallback);
    expect(stored(watcher)).to.deep.equal(['1', '2']);
  });

  describe('held by the WAL checkpointer (its CommitGate)', () => {
    /** A gate the test holds and releases, recording what the group commit tells it. */
    function testGate() {
      let release: () => void = () => {};
      let held: Promise<void> | undefined;
      const calls: string[] = [];
      const gate: CommitGate = {
        beginCommit() {
          calls.push(held ? 'begin: held' : 'begin');
          return held;
        },
        endCommit(committed) {
          calls.push(`end: ${committed}`);
        },
      };
      return {
        gate,
        calls,
        hold() {
          held = new Promise<void>((resolve) => (release = resolve));
        },
        release() {
          held = undefined;
          release();
        },
      };
    }

    it('a held batch commits nothing until released; writes issued meanwhile join it, and it commits once', async () => {
      const t = testGate();
      commits = new GroupCommit(writer, () => usable, t.gate);
      t.hold();
      let done = 0;
      const first = ['a', 'b'].map((key) => commits.run(insert(key), noFallback).then(() => done++));
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(stored(watcher), 'nothing committed while held').to.deep.equal([]);
      expect(done).to.equal(0);
      const later = commits.run(insert('c'), noFallback).then(() => done++);
      t.release();
      await Promise.all([...first, later]);
      expect(stored(watcher)).to.deep.equal(['a', 'b', 'c']);
      expect(t.calls).to.deep.equal(['begin: held', 'begin', 'end: true']);
    });

    it('the gate is told of every batch it let through, committed or not (a rolled-back batch, the fallback path)', async () => {
      const t = testGate();
      commits = new GroupCommit(writer, () => usable, t.gate);
      await commits.run(insert('k'), noFallback);
      await commits.run(() => writer.prepare('INSERT INTO missing (k) VALUES (1)').run(), noFallback).catch(() => {});
      usable = false;
      await commits.run(insert('never'), () => Promise.resolve());
      expect(t.calls).to.deep.equal(['begin', 'end: true', 'begin', 'end: false', 'begin', 'end: false']);
    });
  });
});
