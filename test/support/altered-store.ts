/**
 * The real store, seen through a Proxy with some of its members replaced: for tests that count
 * calls, hide an optional method, or make a write lose its acknowledgement, on a real database.
 */
import type { Store } from '../../src/storage/store';

/**
 * `replace` gets each member's name and the member (a method already bound to the real store)
 * and returns what the caller sees instead: the member itself, a wrapper, or undefined to hide it.
 */
export function alteredStore(real: Store, replace: (key: PropertyKey, member: unknown) => unknown): Store {
  return new Proxy(real, {
    get(target, key, receiver) {
      const value: unknown = Reflect.get(target, key, receiver);
      return replace(key, typeof value === 'function' ? value.bind(target) : value);
    },
  });
}
