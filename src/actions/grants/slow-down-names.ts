/**
 * Which flow a device code belongs to, remembered for the slow_down events of the one-statement
 * poll (MySQL: `Store.recordPendingPoll`). That UPDATE decides and writes the poll in one round
 * trip but cannot hand back the row's id (MariaDB has no `UPDATE ... RETURNING`), and the
 * `device_authorization.slow_down` event names the flow: a second round trip, on every poll
 * too soon. A device that polls too fast does so again and again, so the id is looked up on its
 * first slow_down and remembered. Safe to remember: the code's hash and the flow's id and
 * client never change for the life of the row, and a hash is never given to another flow
 * (256 random bits), so a remembered name cannot be wrong; nothing here decides anything, the
 * UPDATE did. Measured on MariaDB (bench/README.md): slow_down 262 µs of server CPU a poll
 * with the lookup each time.
 */

/** Flows remembered; the oldest are forgotten first. About 150 bytes each. */
const REMEMBERED_FLOWS = 4096;

export interface FlowName {
  authorizationId: string;
  clientId: string;
}

export class SlowDownNames {
  private readonly names = new Map<string, FlowName>();

  constructor(private readonly capacity = REMEMBERED_FLOWS) {}

  /** The flow of `deviceCodeHash`: remembered, or looked up (undefined when there is none). */
  async nameOf(deviceCodeHash: string, lookUp: () => Promise<FlowName | undefined>): Promise<FlowName | undefined> {
    const known = this.names.get(deviceCodeHash);
    if (known) return known;
    const found = await lookUp();
    if (!found) return undefined;
    if (this.names.size >= this.capacity) this.names.delete(this.names.keys().next().value!);
    this.names.set(deviceCodeHash, { authorizationId: found.authorizationId, clientId: found.clientId });
    return found;
  }

  get size(): number {
    return this.names.size;
  }
}
