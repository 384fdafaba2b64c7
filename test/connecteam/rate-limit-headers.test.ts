import type { IncomingHttpHeaders } from 'node:http';
import { readRateLimitHeaders } from '../../src/connecteam/rate-limit-headers';

const FULL: IncomingHttpHeaders = {
  'x-ratelimit-minute-limit': '100',
  'x-ratelimit-minute-remaining': '97',
  'x-ratelimit-minute-reset': '1767225660',
  'x-ratelimit-day-limit': '10000',
  'x-ratelimit-day-remaining': '9000',
  'x-ratelimit-day-reset': '1767312000',
};

describe('readRateLimitHeaders', () => {
  it('reads both windows, with resets in milliseconds', () => {
    expect(readRateLimitHeaders(FULL)).toEqual({
      minute: { limit: 100, remaining: 97, resetAtMs: 1767225660000 },
      day: { limit: 10000, remaining: 9000, resetAtMs: 1767312000000 },
    });
  });

  it('returns no windows without rate-limit headers', () => {
    expect(readRateLimitHeaders({ 'content-type': 'application/json' })).toEqual({
      minute: undefined,
      day: undefined,
    });
  });

  it.each(['limit', 'remaining', 'reset'])('leaves out a window missing its %s header', (name) => {
    const headers = { ...FULL };
    delete headers[`x-ratelimit-minute-${name}`];

    const reading = readRateLimitHeaders(headers);

    expect(reading.minute).toBeUndefined();
    expect(reading.day).toEqual({ limit: 10000, remaining: 9000, resetAtMs: 1767312000000 });
  });

  it.each([
    ['a word', 'soon'],
    ['an empty value', ''],
    ['a blank value', '  '],
    ['a negative number', '-1'],
    ['infinity', 'Infinity'],
    ['two numbers', '1, 2'],
  ])('leaves out a window whose remaining is %s', (_case, value) => {
    const reading = readRateLimitHeaders({ ...FULL, 'x-ratelimit-day-remaining': value });

    expect(reading.day).toBeUndefined();
    expect(reading.minute).toBeDefined();
  });

  it.each([
    ['zero', '0', 0],
    ['padding', ' 5 ', 5],
    ['a decimal', '2.5', 2.5],
  ])('reads a remaining with %s', (_case, value, expected) => {
    const reading = readRateLimitHeaders({ ...FULL, 'x-ratelimit-minute-remaining': value });

    expect(reading.minute?.remaining).toBe(expected);
  });

  it('takes the first of repeated header values', () => {
    const headers = { ...FULL } as Record<string, string | string[]>;
    headers['x-ratelimit-minute-remaining'] = ['3', '50'];

    expect(readRateLimitHeaders(headers).minute?.remaining).toBe(3);
  });

  it('leaves out a window whose repeated header list is empty', () => {
    const headers = { ...FULL } as Record<string, string | string[]>;
    headers['x-ratelimit-minute-limit'] = [];

    expect(readRateLimitHeaders(headers).minute).toBeUndefined();
  });
});
