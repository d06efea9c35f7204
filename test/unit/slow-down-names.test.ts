/**
 * SlowDownNames: the flow of a device code is looked up on its first slow_down and remembered
 * (the one-statement MySQL poll cannot return it); unknown codes are not remembered; the oldest
 * are forgotten past the capacity.
 */
import { expect } from 'chai';
import { SlowDownNames, type FlowName } from '../../src/actions/grants/slow-down-names';

describe('SlowDownNames (the flows named in slow_down events)', () => {
  const flow = (n: number): FlowName => ({ authorizationId: `da${n}`, clientId: 'tv' });

  it('looks a code up once, then answers from memory', async () => {
    const names = new SlowDownNames();
    let lookups = 0;
    const lookUp = async () => (lookups++, flow(1));
    expect(await names.nameOf('h1', lookUp)).to.deep.equal(flow(1));
    expect(await names.nameOf('h1', lookUp)).to.deep.equal(flow(1));
    expect(lookups).to.equal(1);
  });

  it('a code with no flow is not remembered: the next slow_down looks again', async () => {
    const names = new SlowDownNames();
    let lookups = 0;
    expect(await names.nameOf('gone', async () => (lookups++, undefined))).to.equal(undefined);
    expect(await names.nameOf('gone', async () => (lookups++, flow(2)))).to.deep.equal(flow(2));
    expect(lookups).to.equal(2);
  });

  it('holds at most its capacity, forgetting the oldest first', async () => {
    const names = new SlowDownNames(3);
    for (let n = 1; n <= 4; n++) await names.nameOf(`h${n}`, async () => flow(n));
    expect(names.size).to.equal(3);
    let looked = false;
    expect(await names.nameOf('h1', async () => ((looked = true), flow(1)))).to.deep.equal(flow(1));
    expect(looked, 'h1 was forgotten').to.equal(true);
    looked = false;
    await names.nameOf('h4', async () => ((looked = true), flow(4)));
    expect(looked, 'h4 is remembered').to.equal(false);
  });
});
