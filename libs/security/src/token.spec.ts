import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { checkToken, loadToken } from './token';

const dir = mkdtempSync(join(tmpdir(), 'pf-token-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('job token', () => {
  it('matches only the same token', () => {
    assert.equal(checkToken('a-long-enough-token-1', 'a-long-enough-token-1'), true);
    assert.equal(checkToken('a-long-enough-token-1', 'a-long-enough-token-2'), false);
    assert.equal(checkToken('a-long-enough-token-1', 'a-long'), false);
    assert.equal(checkToken('a-long-enough-token-1', undefined), false);
    assert.equal(checkToken('', ''), false);
  });

  it('loads from a file (trimmed) or the environment, and never names the token in errors', () => {
    const f = join(dir, 'token');
    writeFileSync(f, '  0123456789abcdef0123\n');
    assert.equal(loadToken(f), '0123456789abcdef0123');
    process.env.PF_TEST_TOKEN = 'from-the-environment-0123';
    assert.equal(loadToken(undefined, 'PF_TEST_TOKEN'), 'from-the-environment-0123');
    process.env.PF_TEST_TOKEN = 'short-secret';
    assert.throws(
      () => loadToken(undefined, 'PF_TEST_TOKEN'),
      (e: Error) => /PF_TEST_TOKEN/.test(e.message) && !e.message.includes('short-secret'),
    );
    delete process.env.PF_TEST_TOKEN;
    assert.equal(loadToken(undefined, 'PF_TEST_TOKEN'), undefined);
    assert.throws(() => loadToken(join(dir, 'missing')), /--token-file .*missing: cannot read/);
  });
});
