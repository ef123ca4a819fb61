import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ActivationCache } from './activation-cache';
import { exportFingerprint } from './export';
import { npyHeader } from './export-npy';
import type { FingerprintRecord } from './fingerprint-record';
import { activationKey } from './keys';
import { fillCache, sampleValues } from './spec-fixtures';

const root = mkdtempSync(join(tmpdir(), 'permafrost-export-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** Reads a .npy v1.0 file: its header dict and data bytes. */
function readNpy(path: string): { header: string; data: Buffer } {
  const b = readFileSync(path);
  assert.equal(b.toString('latin1', 0, 6), '\x93NUMPY');
  const len = b.readUInt16LE(8);
  assert.equal((10 + len) % 64, 0, 'data is 64-byte aligned');
  return { header: b.toString('latin1', 10, 10 + len), data: b.subarray(10 + len) };
}

describe('cache export', () => {
  const dir = join(root, 'cache');
  let record: FingerprintRecord;
  const samples = [3, 1, 4, 15, 9];

  it('writes .npy files of the activations and sample ids, leaving out corrupt entries', async () => {
    const [h] = await fillCache(dir, ['aa', 'bb'], samples, 'float16');
    const c = ActivationCache.open(dir);
    // flip a payload byte of sample 4
    const bad = c.rawValue(1, 4) as Buffer;
    bad[10] = (bad[10] as number) ^ 0xff;
    c.databases.values.putSync(activationKey(1, 4), bad);
    await c.close();
    const r = ActivationCache.open(dir, { readOnly: true });
    record = r.fingerprints()[0] as FingerprintRecord;
    const out = exportFingerprint(r, record, join(root, 'npy'), 'npy');
    await r.close();
    assert.deepEqual(out.corrupt, [4]);
    assert.deepEqual(out.shape, [4, 2, 3]);
    const acts = readNpy(join(root, 'npy', 'activations.npy'));
    assert.match(acts.header, /^\{'descr': '<f4', 'fortran_order': False, 'shape': \(4, 2, 3\), \} *\n$/);
    const want = [1, 3, 9, 15].flatMap((s) => Array.from(sampleValues(h as never, s)));
    const got = Array.from(new Float32Array(acts.data.buffer.slice(acts.data.byteOffset, acts.data.byteOffset + acts.data.length)));
    assert.deepEqual(
      got,
      want.map((v) => Math.fround(v)),
      'float16 is exact for these values (eighths between 64 and 512)',
    );
    const ids = readNpy(join(root, 'npy', 'sample_ids.npy'));
    assert.match(ids.header, /'descr': '<i8'.*'shape': \(4,\)/);
    assert.deepEqual(Array.from(new BigInt64Array(ids.data.buffer.slice(ids.data.byteOffset, ids.data.byteOffset + ids.data.length))), [
      1n,
      3n,
      9n,
      15n,
    ]);
    assert.equal(JSON.parse(readFileSync(join(root, 'npy', 'fingerprint.json'), 'utf8')).fingerprint, 'aa');
  });

  it('writes a .safetensors file whose header describes both tensors exactly', async () => {
    const r = ActivationCache.open(dir, { readOnly: true });
    exportFingerprint(r, record, join(root, 'st'), 'safetensors');
    await r.close();
    const b = readFileSync(join(root, 'st', 'activations.safetensors'));
    const n = Number(b.readBigUInt64LE(0));
    assert.equal(n % 8, 0);
    const header = JSON.parse(b.toString('utf8', 8, 8 + n));
    assert.deepEqual(header.activations, { dtype: 'F32', shape: [4, 2, 3], data_offsets: [0, 96] });
    assert.deepEqual(header.sample_ids, { dtype: 'I64', shape: [4], data_offsets: [96, 128] });
    assert.equal(header.__metadata__.fingerprint, 'aa');
    assert.equal(b.length, 8 + n + 128, 'the data is exactly the two tensors');
    const npy = readNpy(join(root, 'npy', 'activations.npy')).data;
    assert.ok(b.subarray(8 + n, 8 + n + 96).equals(npy), 'same values as the .npy export');
  });

  it('pads .npy headers to a reserved length without moving the data', () => {
    const wide = npyHeader('<f4', [1000, 2, 3]);
    const narrow = npyHeader('<f4', [7, 2, 3], wide.length);
    assert.equal(narrow.length, wide.length);
    assert.equal(npyHeader('<i8', [5]).toString('latin1').includes("'shape': (5,)"), true);
  });
});
