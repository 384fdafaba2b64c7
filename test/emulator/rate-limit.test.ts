import type { Emulator } from '../../src/emulator/emulator';
import { callApi, startTestEmulator, type ApiResponse } from './helpers';

const GET_FILE = '/attachments/v1/files/unknown';
/** 2030-01-01T12:34:56.789Z */
const START_MS = Date.UTC(2030, 0, 1, 12, 34, 56, 789);

let emulator: Emulator;
let clockMs = START_MS;

beforeAll(async () => {
  emulator = await startTestEmulator({
    apiKeys: ['key-a', 'key-b'],
    minuteLimit: 3,
    dayLimit: 5,
    now: () => clockMs,
  });
});

afterAll(() => emulator.close());

beforeEach(() => {
  clockMs = START_MS;
  emulator.faults.reset();
  emulator.stats.reset();
});

function get(key = 'key-a'): Promise<ApiResponse> {
  return callApi(emulator, 'GET', GET_FILE, { key });
}

function remaining(response: ApiResponse): [number, number] {
  return [
    Number(response.headers['x-ratelimit-minute-remaining']),
    Number(response.headers['x-ratelimit-day-remaining']),
  ];
}

describe('rate limit headers', () => {
  it('sends all six headers with limits and window ends', async () => {
    const response = await get();
    expect(response.status).toBe(404);
    expect(response.headers).toMatchObject({
      'x-ratelimit-minute-limit': '3',
      'x-ratelimit-minute-remaining': '2',
      'x-ratelimit-minute-reset': String(Date.UTC(2030, 0, 1, 12, 35) / 1000),
      'x-ratelimit-day-limit': '5',
      'x-ratelimit-day-remaining': '4',
      'x-ratelimit-day-reset': String(Date.UTC(2030, 0, 2) / 1000),
    });
  });

  it('sends them on 401, 422 and unknown routes too', async () => {
    const unauthorized = await get('wrong');
    const invalid = await callApi(emulator, 'POST', '/attachments/v1/files/generate-upload-url', {
      key: 'key-a',
      body: {},
    });
    const unknown = await callApi(emulator, 'GET', '/nothing/here', { key: 'key-a' });
    expect(unauthorized.status).toBe(401);
    expect(remaining(unauthorized)).toEqual([3, 5]);
    expect(invalid.status).toBe(422);
    expect(remaining(invalid)).toEqual([2, 4]);
    expect(unknown.status).toBe(404);
    expect(remaining(unknown)).toEqual([1, 3]);
  });
});

describe('rate limit', () => {
  it('responds 429 without Retry-After once the minute is spent', async () => {
    await get('key-a');
    await get('key-b');
    await get('key-a');
    const limited = await get('key-b');
    expect(limited.status).toBe(429);
    expect(limited.json).toEqual({ detail: 'Too many requests' });
    expect(limited.headers['retry-after']).toBeUndefined();
    expect(remaining(limited)).toEqual([0, 2]);
    expect(emulator.stats.tooManyRequests).toBe(1);
  });

  it('counts neither rejected calls nor wrong keys', async () => {
    await get('wrong');
    for (let i = 0; i < 5; i += 1) await get();
    const nextMinute = Date.UTC(2030, 0, 1, 12, 35);
    clockMs = nextMinute;
    const response = await get();
    expect(response.status).toBe(404);
    expect(remaining(response)).toEqual([2, 1]);
  });

  it('resets the minute window at the next wall-clock minute', async () => {
    for (let i = 0; i < 3; i += 1) await get();
    clockMs = Date.UTC(2030, 0, 1, 12, 34, 59, 999);
    expect((await get()).status).toBe(429);
    clockMs = Date.UTC(2030, 0, 1, 12, 35);
    const response = await get();
    expect(response.status).toBe(404);
    expect(response.headers['x-ratelimit-minute-reset']).toBe(
      String(Date.UTC(2030, 0, 1, 12, 36) / 1000),
    );
  });

  it('responds 429 when the day is spent until UTC midnight', async () => {
    for (let minute = 0; minute < 5; minute += 1) {
      clockMs = Date.UTC(2030, 0, 1, 13, minute);
      expect((await get()).status).toBe(404);
    }
    clockMs = Date.UTC(2030, 0, 1, 23, 59, 59);
    const limited = await get();
    expect(limited.status).toBe(429);
    expect(remaining(limited)).toEqual([3, 0]);
    clockMs = Date.UTC(2030, 0, 2);
    const nextDay = await get();
    expect(nextDay.status).toBe(404);
    expect(remaining(nextDay)).toEqual([2, 4]);
    expect(nextDay.headers['x-ratelimit-day-reset']).toBe(String(Date.UTC(2030, 0, 3) / 1000));
  });
});
