import { QuotaPacer, type QuotaReservation } from '../../src/connecteam/quota-pacer';
import type { RateLimitReading, WindowReading } from '../../src/connecteam/rate-limit-headers';
import { QuotaExhaustedError } from '../../src/errors';
import { Metrics } from '../../src/metrics/metrics';

const START = Date.UTC(2026, 0, 1, 12, 0, 0);
const MINUTE = 60_000;
const DAY = 86_400_000;
/** The pacer waits this long past a reported reset, for clock skew. */
const MARGIN = 500;

/** Builds a pacer whose clock moves only when the test sets it. */
function manualPacer(maxWaitMs = 15_000) {
  const clock = { now: START };
  const metrics = new Metrics();
  const pacer = new QuotaPacer({ maxWaitMs, metrics, now: () => clock.now });
  return { pacer, metrics, clock };
}

function minute(remaining: number, resetAtMs: number, limit = 100): RateLimitReading {
  return { minute: { limit, remaining, resetAtMs } };
}

function day(remaining: number, resetAtMs: number, limit = 10_000): RateLimitReading {
  return { day: { limit, remaining, resetAtMs } };
}

function liveSignal(): AbortSignal {
  return new AbortController().signal;
}

type State<T> =
  { status: 'pending' } | { status: 'resolved'; value: T } | { status: 'rejected'; error: unknown };

/** Tracks a promise so a test can look at its state without awaiting it. */
function track<T>(promise: Promise<T>): { readonly state: State<T> } {
  const tracker: { state: State<T> } = { state: { status: 'pending' } };
  promise.then(
    (value) => (tracker.state = { status: 'resolved', value }),
    (error: unknown) => (tracker.state = { status: 'rejected', error }),
  );
  return tracker;
}

/** Lets promise callbacks run, without letting timers fire. */
async function settleMicrotasks(): Promise<void> {
  for (let i = 0; i < 5; i += 1) await Promise.resolve();
}

function granted<T>(tracker: { readonly state: State<T> }): T {
  expect(tracker.state.status).toBe('resolved');
  return (tracker.state as { value: T }).value;
}

async function exhaustion(promise: Promise<unknown>): Promise<QuotaExhaustedError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(QuotaExhaustedError);
  return error as QuotaExhaustedError;
}

async function gaugeValue(
  metric: { get(): Promise<{ values: { labels: object; value: number }[] }> },
  labels: object = {},
): Promise<number | undefined> {
  const { values } = await metric.get();
  return values.find((entry) => JSON.stringify(entry.labels) === JSON.stringify(labels))?.value;
}

async function histogramCount(metrics: Metrics): Promise<number> {
  const { values } = await metrics.quotaWait.get();
  return values.find((entry) => entry.metricName?.endsWith('_count'))?.value ?? 0;
}

describe('QuotaPacer', () => {
  describe('before Connecteam has reported a budget', () => {
    it('lets the first upload through at once', async () => {
      const { pacer } = manualPacer();

      await expect(pacer.reserve(2, liveSignal())).resolves.toBeDefined();
    });

    it('holds the next upload until the first releases its calls', async () => {
      const { pacer } = manualPacer();
      const first = await pacer.reserve(2, liveSignal());
      const second = track(pacer.reserve(2, liveSignal()));
      await settleMicrotasks();

      expect(second.state.status).toBe('pending');

      first.release();
      await settleMicrotasks();

      expect(second.state.status).toBe('resolved');
    });

    it('holds the next upload until every call is answered', async () => {
      const { pacer } = manualPacer();
      const first = await pacer.reserve(2, liveSignal());
      const second = track(pacer.reserve(1, liveSignal()));
      first.settle(true);
      pacer.observe({});
      await settleMicrotasks();

      expect(second.state.status).toBe('pending');

      first.settle(true);
      pacer.observe({});
      await settleMicrotasks();

      expect(second.state.status).toBe('resolved');
    });

    it('lets the waiting uploads through once headers report a budget', async () => {
      const { pacer, clock } = manualPacer();
      await pacer.reserve(2, liveSignal());
      const second = track(pacer.reserve(2, liveSignal()));
      const third = track(pacer.reserve(2, liveSignal()));

      pacer.observe(minute(99, clock.now + 30_000));
      await settleMicrotasks();

      expect(second.state.status).toBe('resolved');
      expect(third.state.status).toBe('resolved');
    });

    it('rejects a waiting upload once its wait bound passes', async () => {
      const metrics = new Metrics();
      const pacer = new QuotaPacer({ maxWaitMs: 50, metrics });
      await pacer.reserve(2, liveSignal());
      const started = Date.now();

      const error = await exhaustion(pacer.reserve(2, liveSignal()));

      expect(Date.now() - started).toBeGreaterThanOrEqual(45);
      expect(error.status).toBe(429);
      expect(error.retryAfterSeconds).toBe(1);
      expect(await gaugeValue(metrics.quotaRejections, { window: 'minute' })).toBe(1);
    });
  });

  describe('with a reported budget', () => {
    it('never reserves more calls than remain', async () => {
      const { pacer, clock } = manualPacer(MINUTE * 2);
      pacer.observe(minute(5, clock.now + 30_000));
      const first = track(pacer.reserve(2, liveSignal()));
      const second = track(pacer.reserve(2, liveSignal()));
      const third = track(pacer.reserve(2, liveSignal()));
      const fourth = track(pacer.reserve(1, liveSignal()));
      await settleMicrotasks();

      expect(first.state.status).toBe('resolved');
      expect(second.state.status).toBe('resolved');
      expect(third.state.status).toBe('pending');
      // Waiters are served in order, so a smaller request does not overtake a larger one.
      expect(fourth.state.status).toBe('pending');
    });

    it('keeps the budget of answered calls spent', async () => {
      const { pacer, clock } = manualPacer(MINUTE * 2);
      const reset = clock.now + 30_000;
      pacer.observe(minute(4, reset));
      const first = await pacer.reserve(2, liveSignal());
      await pacer.reserve(2, liveSignal());
      const third = track(pacer.reserve(1, liveSignal()));

      pacer.observe(minute(3, reset));
      first.settle(true);
      pacer.observe(minute(2, reset));
      first.settle(true);
      await settleMicrotasks();

      expect(third.state.status).toBe('pending');
    });

    it('serves waiters only once an answered call shows in the headers', async () => {
      const { pacer, clock } = manualPacer(MINUTE * 2);
      const reset = clock.now + 30_000;
      pacer.observe(minute(2, reset));
      const first = await pacer.reserve(2, liveSignal());
      const waiting = track(pacer.reserve(1, liveSignal()));

      first.settle(true);
      await settleMicrotasks();

      expect(waiting.state.status).toBe('pending');

      pacer.observe(minute(1, reset));
      first.settle(true);
      pacer.observe(minute(0, reset));
      await settleMicrotasks();

      expect(waiting.state.status).toBe('pending');
    });

    it('charges an unanswered call as spent', async () => {
      const { pacer, clock } = manualPacer();
      pacer.observe(minute(2, clock.now + 30_000));
      const reservation = await pacer.reserve(1, liveSignal());

      reservation.settle(false);

      await expect(pacer.reserve(1, liveSignal())).resolves.toBeDefined();
      await exhaustion(pacer.reserve(1, liveSignal()));
    });

    it('gives back calls that are released unused', async () => {
      const { pacer, clock } = manualPacer(MINUTE * 2);
      pacer.observe(minute(4, clock.now + 30_000));
      const first = await pacer.reserve(2, liveSignal());
      await pacer.reserve(2, liveSignal());
      const third = track(pacer.reserve(2, liveSignal()));
      await settleMicrotasks();

      expect(third.state.status).toBe('pending');

      first.release();
      await settleMicrotasks();

      expect(third.state.status).toBe('resolved');
    });

    it('gives back only the calls not settled yet', async () => {
      const { pacer, clock } = manualPacer();
      const reset = clock.now + 30_000;
      pacer.observe(minute(3, reset));
      const first = await pacer.reserve(3, liveSignal());

      pacer.observe(minute(2, reset));
      first.settle(true);
      first.release();

      await expect(pacer.reserve(2, liveSignal())).resolves.toBeDefined();
      await exhaustion(pacer.reserve(1, liveSignal()));
    });

    it.each<[string, (reservation: QuotaReservation) => void]>([
      ['settling more calls than reserved', (r) => [1, 2, 3, 4].forEach(() => r.settle(true))],
      ['releasing twice', (r) => [1, 2].forEach(() => r.release())],
      ['settling after release', (r) => (r.release(), r.settle(false), r.settle(true))],
    ])('gives back nothing extra when %s', async (_case, misuse) => {
      const { pacer, clock } = manualPacer();
      pacer.observe(minute(4, clock.now + 30_000));
      const first = await pacer.reserve(2, liveSignal());
      await pacer.reserve(2, liveSignal());

      misuse(first);

      await exhaustion(pacer.reserve(3, liveSignal()));
    });

    it('uses the tighter of the minute and day windows', async () => {
      const { pacer, clock } = manualPacer();
      pacer.observe({
        minute: { limit: 100, remaining: 50, resetAtMs: clock.now + 30_000 },
        day: { limit: 1000, remaining: 1, resetAtMs: clock.now + 3_600_000 },
      });

      await expect(pacer.reserve(1, liveSignal())).resolves.toBeDefined();
      const error = await exhaustion(pacer.reserve(1, liveSignal()));

      expect(error.message).toContain('per-day');
    });

    it('paces by the day window alone when no minute window is known', async () => {
      const { pacer, clock } = manualPacer();
      pacer.observe(day(2, clock.now + 3_600_000));

      await expect(pacer.reserve(2, liveSignal())).resolves.toBeDefined();
      await exhaustion(pacer.reserve(1, liveSignal()));
    });
  });

  describe('when the budget is spent', () => {
    it('rejects at once when the reset is beyond the wait bound', async () => {
      const { pacer, metrics, clock } = manualPacer(15_000);
      pacer.observe(minute(0, clock.now + 40_000));

      const error = await exhaustion(pacer.reserve(2, liveSignal()));

      expect(error.status).toBe(429);
      expect(error.code).toBe('quota_exhausted');
      expect(error.retryAfterSeconds).toBe(41);
      expect(error.headers).toEqual({ 'Retry-After': '41' });
      expect(error.message).toContain('per-minute');
      expect(await gaugeValue(metrics.quotaRejections, { window: 'minute' })).toBe(1);
    });

    it('reports the later reset when both windows are spent', async () => {
      const { pacer, metrics, clock } = manualPacer(15_000);
      pacer.observe({
        minute: { limit: 100, remaining: 0, resetAtMs: clock.now + 40_000 },
        day: { limit: 1000, remaining: 0, resetAtMs: clock.now + 7_200_000 },
      });

      const error = await exhaustion(pacer.reserve(1, liveSignal()));

      expect(error.message).toContain('per-day');
      expect(error.retryAfterSeconds).toBe(7201);
      expect(await gaugeValue(metrics.quotaRejections, { window: 'day' })).toBe(1);
    });

    it('lets a caller wait longer than the configured bound', async () => {
      const { pacer, clock } = manualPacer(15_000);
      pacer.observe(minute(0, clock.now + 40_000));

      const waiting = track(pacer.reserve(1, liveSignal(), { maxWaitMs: 60_000 }));
      await settleMicrotasks();

      expect(waiting.state.status).toBe('pending');
    });

    it('waits for a reset within the bound, then lets the upload through', async () => {
      const metrics = new Metrics();
      const pacer = new QuotaPacer({ maxWaitMs: 5_000, metrics });
      const resetAtMs = Date.now() + 200;
      pacer.observe(minute(0, resetAtMs, 10));

      const waiting = track(pacer.reserve(2, liveSignal()));
      await settleMicrotasks();

      expect(waiting.state.status).toBe('pending');
      expect(await gaugeValue(metrics.reservationsWaiting)).toBe(1);

      await expect(pacer.reserve(2, liveSignal(), { maxWaitMs: 5_000 })).resolves.toBeDefined();

      expect(Date.now()).toBeGreaterThanOrEqual(resetAtMs);
      expect(waiting.state.status).toBe('resolved');
      expect(await gaugeValue(metrics.reservationsWaiting)).toBe(0);
      expect(await gaugeValue(metrics.quotaRemaining, { window: 'minute' })).toBe(10);
    });

    it('counts a window as reset only after the clock-skew margin', async () => {
      const { pacer, clock } = manualPacer(0);
      const reset = clock.now + 10_000;
      pacer.observe(minute(0, reset, 10));

      clock.now = reset + MARGIN - 1;
      await exhaustion(pacer.reserve(1, liveSignal()));

      clock.now = reset + MARGIN;
      await expect(pacer.reserve(1, liveSignal())).resolves.toBeDefined();
    });

    it('moves a passed reset to the next window after now', async () => {
      const { pacer, metrics, clock } = manualPacer(0);
      pacer.observe({
        minute: { limit: 10, remaining: 0, resetAtMs: clock.now - 5 * MINUTE - 1_000 },
        day: { limit: 500, remaining: 0, resetAtMs: clock.now - 3 * DAY - 1_000 },
      });

      await expect(pacer.reserve(1, liveSignal())).resolves.toBeDefined();

      expect(await gaugeValue(metrics.quotaRemaining, { window: 'minute' })).toBe(10);
      expect(await gaugeValue(metrics.quotaRemaining, { window: 'day' })).toBe(500);
      expect(await gaugeValue(metrics.quotaReset, { window: 'minute' })).toBe(
        (clock.now + MINUTE - 1_000) / 1000,
      );
      expect(await gaugeValue(metrics.quotaReset, { window: 'day' })).toBe(
        (clock.now + DAY - 1_000) / 1000,
      );
    });

    it('rolls a reset from long ago forward without stalling', async () => {
      // Stepping through five centuries of minutes one by one would take seconds.
      const { pacer, metrics, clock } = manualPacer(0);
      clock.now = Date.UTC(2500, 0, 1);
      pacer.observe(minute(0, 0, 10));
      const started = performance.now();

      await expect(pacer.reserve(1, liveSignal())).resolves.toBeDefined();

      expect(performance.now() - started).toBeLessThan(250);
      const reset = (await gaugeValue(metrics.quotaReset, { window: 'minute' }))! * 1000;
      expect(reset).toBeGreaterThan(clock.now);
      expect(reset).toBeLessThanOrEqual(clock.now + MINUTE);
      expect(reset % MINUTE).toBe(0);
    });
  });

  describe('observe', () => {
    it('publishes each window to the quota gauges', async () => {
      const { pacer, metrics, clock } = manualPacer();
      pacer.observe({
        minute: { limit: 100, remaining: 42, resetAtMs: clock.now + 30_000 },
        day: { limit: 10_000, remaining: 9_000, resetAtMs: clock.now + 3_600_000 },
      });

      for (const [window, limit, remaining, reset] of [
        ['minute', 100, 42, (clock.now + 30_000) / 1000],
        ['day', 10_000, 9_000, (clock.now + 3_600_000) / 1000],
      ] as const) {
        expect(await gaugeValue(metrics.quotaLimit, { window })).toBe(limit);
        expect(await gaugeValue(metrics.quotaRemaining, { window })).toBe(remaining);
        expect(await gaugeValue(metrics.quotaReset, { window })).toBe(reset);
      }
    });

    it.each<[string, WindowReading[], number]>([
      [
        'keeps the lowest remaining within one window',
        [
          { limit: 100, remaining: 5, resetAtMs: START + 30_000 },
          { limit: 100, remaining: 7, resetAtMs: START + 30_000 },
        ],
        5,
      ],
      [
        'takes a lower remaining within one window',
        [
          { limit: 100, remaining: 7, resetAtMs: START + 30_000 },
          { limit: 100, remaining: 5, resetAtMs: START + 30_000 },
        ],
        5,
      ],
      [
        'starts over with a later window',
        [
          { limit: 100, remaining: 1, resetAtMs: START + 30_000 },
          { limit: 100, remaining: 99, resetAtMs: START + 90_000 },
        ],
        99,
      ],
      [
        'ignores a late answer from an earlier window',
        [
          { limit: 100, remaining: 99, resetAtMs: START + 90_000 },
          { limit: 100, remaining: 1, resetAtMs: START + 30_000 },
        ],
        99,
      ],
    ])('%s', async (_case, readings, expected) => {
      const { pacer, metrics } = manualPacer();
      for (const reading of readings) pacer.observe({ minute: reading });

      expect(await gaugeValue(metrics.quotaRemaining, { window: 'minute' })).toBe(expected);
    });

    it('leaves a window alone when a reading lacks it', async () => {
      const { pacer, metrics, clock } = manualPacer();
      pacer.observe(minute(42, clock.now + 30_000));
      pacer.observe({});
      pacer.observe(day(7, clock.now + 3_600_000));

      expect(await gaugeValue(metrics.quotaRemaining, { window: 'minute' })).toBe(42);
      expect(await gaugeValue(metrics.quotaRemaining, { window: 'day' })).toBe(7);
    });
  });

  describe('throttled', () => {
    it('marks the minute window spent when the headers do not show why', async () => {
      const { pacer, metrics, clock } = manualPacer();
      pacer.observe(minute(50, clock.now + 20_000));

      const waitMs = pacer.throttled({});

      expect(waitMs).toBe(20_000 + MARGIN);
      expect(await gaugeValue(metrics.quotaRemaining, { window: 'minute' })).toBe(0);
      const error = await exhaustion(pacer.reserve(1, liveSignal()));
      expect(error.retryAfterSeconds).toBe(21);
    });

    it('assumes a full minute when no window is known', async () => {
      const { pacer, metrics, clock } = manualPacer();

      expect(pacer.throttled({})).toBe(MINUTE + MARGIN);
      expect(await gaugeValue(metrics.quotaRemaining, { window: 'minute' })).toBe(0);
      expect(await gaugeValue(metrics.quotaReset, { window: 'minute' })).toBe(
        (clock.now + MINUTE) / 1000,
      );
      await exhaustion(pacer.reserve(1, liveSignal()));
    });

    it('waits for the window that the headers show spent', async () => {
      const { pacer, clock } = manualPacer();

      const waitMs = pacer.throttled({
        minute: { limit: 100, remaining: 3, resetAtMs: clock.now + 20_000 },
        day: { limit: 1000, remaining: 0, resetAtMs: clock.now + 3_600_000 },
      });

      expect(waitMs).toBe(3_600_000 + MARGIN);
      const error = await exhaustion(pacer.reserve(1, liveSignal()));
      expect(error.message).toContain('per-day');
    });

    it('waits for the later reset when both windows are spent', () => {
      const { pacer, clock } = manualPacer();

      const waitMs = pacer.throttled({
        minute: { limit: 100, remaining: 0, resetAtMs: clock.now + 20_000 },
        day: { limit: 1000, remaining: 0, resetAtMs: clock.now + 3_600_000 },
      });

      expect(waitMs).toBe(3_600_000 + MARGIN);
    });

    it('lets one upload through again a minute after an unexplained throttle', async () => {
      const { pacer, clock } = manualPacer();
      pacer.throttled({});

      clock.now += MINUTE + MARGIN;

      await expect(pacer.reserve(2, liveSignal())).resolves.toBeDefined();
      const second = track(pacer.reserve(2, liveSignal()));
      await settleMicrotasks();
      expect(second.state.status).toBe('pending');
    });

    it('marks the current window spent after a stored window has reset', async () => {
      const { pacer, clock } = manualPacer();
      pacer.observe(minute(0, clock.now + 1_000, 10));
      clock.now += 2_000;

      const waitMs = pacer.throttled({});

      expect(waitMs).toBeGreaterThan(MARGIN);
      await exhaustion(pacer.reserve(1, liveSignal(), { maxWaitMs: 0 }));
    });
  });

  describe('priority', () => {
    it('lets a priority request that fits skip the queue', async () => {
      const { pacer, clock } = manualPacer(MINUTE * 2);
      pacer.observe(minute(3, clock.now + 30_000));
      await pacer.reserve(2, liveSignal());
      const queued = track(pacer.reserve(2, liveSignal()));
      const ordinary = track(pacer.reserve(1, liveSignal()));
      const urgent = track(pacer.reserve(1, liveSignal(), { priority: true }));
      await settleMicrotasks();

      expect(queued.state.status).toBe('pending');
      expect(ordinary.state.status).toBe('pending');
      expect(urgent.state.status).toBe('resolved');
    });

    it('serves a waiting priority request first', async () => {
      const { pacer, clock } = manualPacer(MINUTE * 2);
      pacer.observe(minute(2, clock.now + 30_000));
      const holder = await pacer.reserve(2, liveSignal());
      const order: string[] = [];
      void pacer.reserve(2, liveSignal()).then(() => order.push('ordinary'));
      void pacer.reserve(2, liveSignal(), { priority: true }).then(() => order.push('urgent'));
      await settleMicrotasks();

      holder.release();
      await settleMicrotasks();

      expect(order).toEqual(['urgent']);
    });
  });

  describe('abort', () => {
    it('rejects a waiter with the abort reason and removes it', async () => {
      const { pacer, metrics } = manualPacer();
      const holder = await pacer.reserve(2, liveSignal());
      const controller = new AbortController();
      const aborted = track(pacer.reserve(2, controller.signal));
      const next = track(pacer.reserve(2, liveSignal()));
      await settleMicrotasks();

      expect(await gaugeValue(metrics.reservationsWaiting)).toBe(2);

      const reason = new Error('client went away');
      controller.abort(reason);
      await settleMicrotasks();

      expect(aborted.state).toEqual({ status: 'rejected', error: reason });
      expect(await gaugeValue(metrics.reservationsWaiting)).toBe(1);

      holder.release();
      await settleMicrotasks();

      expect(granted(next)).toBeDefined();
      expect(await gaugeValue(metrics.reservationsWaiting)).toBe(0);
    });

    it('rejects at once when the signal is already aborted', async () => {
      const { pacer } = manualPacer();
      const controller = new AbortController();
      const reason = new Error('already gone');
      controller.abort(reason);

      await expect((async () => pacer.reserve(1, controller.signal))()).rejects.toBe(reason);
      // The abort spent nothing: the next request gets through.
      await expect(pacer.reserve(2, liveSignal())).resolves.toBeDefined();
    });

    it('ignores an abort after the reservation is granted', async () => {
      const { pacer } = manualPacer();
      const holder = await pacer.reserve(2, liveSignal());
      const controller = new AbortController();
      const waiting = track(pacer.reserve(1, controller.signal));
      holder.release();
      await settleMicrotasks();

      controller.abort(new Error('late'));
      await settleMicrotasks();

      expect(waiting.state.status).toBe('resolved');
    });
  });

  describe('metrics', () => {
    it('records a zero wait for an immediate grant', async () => {
      const { pacer, metrics } = manualPacer();

      await pacer.reserve(1, liveSignal());

      expect(await histogramCount(metrics)).toBe(1);
      const { values } = await metrics.quotaWait.get();
      expect(values.find((entry) => entry.metricName?.endsWith('_sum'))?.value).toBe(0);
    });

    it('records how long a waiter waited', async () => {
      const { pacer, metrics, clock } = manualPacer();
      const holder = await pacer.reserve(2, liveSignal());
      const waiting = track(pacer.reserve(1, liveSignal()));
      clock.now += 1_500;
      holder.release();
      await settleMicrotasks();

      expect(granted(waiting)).toBeDefined();
      const { values } = await metrics.quotaWait.get();
      expect(values.find((entry) => entry.metricName?.endsWith('_sum'))?.value).toBe(1.5);
    });
  });

  describe('under a simulated Connecteam', () => {
    it.each([
      ['headers observed before the settle', 1],
      ['headers observed before the settle', 2],
      ['headers observed before the settle', 3],
      ['the settle before the headers', 4],
      ['the settle before the headers', 5],
      ['the settle before the headers', 6],
    ])('never spends more calls than remain, with %s (seed %i)', async (order, seed) => {
      // Connecteam's side: a budget per minute that each answered call spends.
      const { pacer, clock } = manualPacer(10 * MINUTE);
      const budget = 7;
      let remaining = budget;
      let resetAtMs = clock.now + MINUTE;
      let overspent = 0;
      const reading = () => minute(remaining, resetAtMs, budget);
      const call = (reservation: QuotaReservation) => {
        if (remaining === 0) overspent += 1;
        else remaining -= 1;
        if (order === 'the settle before the headers') reservation.settle(true);
        pacer.observe(reading());
        if (order === 'headers observed before the settle') reservation.settle(true);
      };

      let random = seed;
      const next = () => (random = (random * 48271) % 2147483647) / 2147483647;
      const active: { reservation: QuotaReservation; calls: number }[] = [];
      let started = 0;
      const uploads: Promise<void>[] = [];
      for (let step = 0; step < 300; step += 1) {
        const roll = next();
        if (roll < 0.3 && started < 40) {
          started += 1;
          uploads.push(
            pacer.reserve(2, liveSignal()).then(
              (reservation) => void active.push({ reservation, calls: 0 }),
              () => undefined,
            ),
          );
        } else if (roll < 0.8 && active.length > 0) {
          const index = Math.floor(next() * active.length);
          const upload = active[index]!;
          call(upload.reservation);
          upload.calls += 1;
          if (upload.calls === 2) active.splice(index, 1);
        } else if (roll < 0.85 && active.length > 0) {
          // An upload fails before its completion call and gives the call back.
          const [upload] = active.splice(Math.floor(next() * active.length), 1);
          upload!.reservation.release();
        } else if (roll > 0.97) {
          clock.now = resetAtMs + MARGIN;
          remaining = budget;
          resetAtMs += MINUTE;
          pacer.observe(reading());
        }
        await settleMicrotasks();
      }

      expect(overspent).toBe(0);
      expect(started).toBeGreaterThan(10);
    });
  });
});
