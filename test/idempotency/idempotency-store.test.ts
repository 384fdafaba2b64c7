import {
  MemoryIdempotencyStore,
  type BeginOutcome,
  type IdempotencyClaim,
} from '../../src/idempotency/idempotency-store';

function claimOf(outcome: BeginOutcome): IdempotencyClaim {
  if (!('claim' in outcome)) throw new Error('expected a new claim');
  return outcome.claim;
}

const created = { status: 201, body: { files: [] } };

describe('MemoryIdempotencyStore', () => {
  it('returns the running marker to a repeat', async () => {
    const store = new MemoryIdempotencyStore({ ttlMs: 1_000 });
    await store.begin('alpha', 'k', 'f1');

    const repeat = await store.begin('alpha', 'k', 'f1');

    expect(repeat).toEqual({ existing: { state: 'running', fingerprint: 'f1' } });
  });

  it('returns the stored response after finish', async () => {
    const store = new MemoryIdempotencyStore({ ttlMs: 1_000 });
    await claimOf(await store.begin('alpha', 'k', 'f1')).finish(created);

    const repeat = await store.begin('alpha', 'k', 'f1');

    expect(repeat).toEqual({ existing: { state: 'done', fingerprint: 'f1', result: created } });
  });

  it('frees the key on abandon', async () => {
    const store = new MemoryIdempotencyStore({ ttlMs: 1_000 });
    const claim = claimOf(await store.begin('alpha', 'k', 'f1'));
    await claim.abandon();
    await claim.finish(created);

    const repeat = await store.begin('alpha', 'k', 'f1');

    expect('claim' in repeat).toBe(true);
  });

  it('keeps scopes apart', async () => {
    const store = new MemoryIdempotencyStore({ ttlMs: 1_000 });
    await store.begin('alpha', 'k', 'f1');

    const other = await store.begin('beta', 'k', 'f1');

    expect('claim' in other).toBe(true);
  });

  it('drops stored responses after the TTL', async () => {
    let now = 0;
    const store = new MemoryIdempotencyStore({ ttlMs: 1_000, now: () => now });
    await claimOf(await store.begin('alpha', 'k', 'f1')).finish(created);
    now = 1_000;

    const later = await store.begin('alpha', 'k', 'f1');

    expect('claim' in later).toBe(true);
  });

  it('evicts the oldest stored response when full', async () => {
    const store = new MemoryIdempotencyStore({ ttlMs: 60_000, maxEntries: 3 });
    const running = claimOf(await store.begin('alpha', 'running', 'f'));
    for (const key of ['a', 'b', 'c']) {
      await claimOf(await store.begin('alpha', key, 'f')).finish(created);
    }

    expect(store.size).toBe(3);
    expect('existing' in (await store.begin('alpha', 'running', 'f'))).toBe(true);
    expect('claim' in (await store.begin('alpha', 'a', 'f'))).toBe(true);
    await running.abandon();
  });
});
