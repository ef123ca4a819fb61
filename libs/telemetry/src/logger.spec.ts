import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { isUserError, UserError } from './errors';
import { createLogger } from './logger';
import { Progress } from './progress';

function capture() {
  const stream = new PassThrough();
  const chunks: string[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c.toString()));
  return { stream, lines: () => chunks.join('').split('\n').filter(Boolean) };
}

describe('logger', () => {
  it('writes one JSON object per line off a TTY, with child fields', () => {
    const c = capture();
    const l = createLogger({ stream: c.stream, level: 'info', format: 'json' }).child({ rank: 1 });
    l.debug('hidden');
    l.info('hello', { n: 2 });
    const [line] = c.lines();
    const o = JSON.parse(line ?? '{}');
    assert.equal(o.msg, 'hello');
    assert.equal(o.level, 'info');
    assert.equal(o.rank, 1);
    assert.equal(o.n, 2);
    assert.equal(c.lines().length, 1);
  });

  it('writes short text lines on request', () => {
    const c = capture();
    createLogger({ stream: c.stream, format: 'text', level: 'debug' }).warn('careful', { file: 'x' });
    assert.deepEqual(c.lines(), ['warn: careful file=x']);
  });
});

describe('progress', () => {
  it('logs structured progress lines off a TTY, throttled but always the last', () => {
    const c = capture();
    const p = new Progress({ logger: createLogger({ stream: c.stream, format: 'json', level: 'info' }), intervalMs: 60_000 });
    for (let i = 1; i <= 10; i++) p.update('epoch 1/1', i, 10, { loss: 0.5 });
    const lines = c.lines().map((l) => JSON.parse(l));
    assert.deepEqual(
      lines.map((l) => l.done),
      [1, 10],
    );
    assert.equal(lines[1].label, 'epoch 1/1');
  });
});

describe('UserError', () => {
  it('names the field and carries exit code 2', () => {
    const e = new UserError('must be positive', 'train.batchSize');
    assert.equal(e.message, 'train.batchSize: must be positive');
    assert.equal(e.exitCode, 2);
    assert.ok(isUserError(e));
    assert.ok(!isUserError(new Error('x')));
  });
});
