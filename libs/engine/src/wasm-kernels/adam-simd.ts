/**
 * AdamUpdate's loop as a small WebAssembly SIMD function that works in the wasm backend's own
 * memory: the module imports the backend's WebAssembly.Memory (shared with XNNPACK's threads or
 * not, as the backend was built), and adam(x, m, v, g, x2, m2, v2, bytes, constants...) runs four
 * floats per step in float32, in the order of tf.train.adam's kernels with the trainer's
 * division and weight decay before them:
 *
 *   g' = g / divisor + x * decay
 *   m2 = m * beta1 + g' * (1 - beta1)          v2 = v * beta2 + (g' * g') * (1 - beta2)
 *   x2 = ((m2 / (1 - accBeta1)) / (sqrt(v2 / (1 - accBeta2)) + epsilon)) * -lr + x
 *
 * A JavaScript loop of the same arithmetic takes several times as long (each division and square
 * root one double at a time). The module is encoded here, a few hundred bytes, so there is
 * nothing to build: the type, import, function, export and code sections of the WebAssembly
 * binary format, with the loop's instructions below. `bytes` must be a positive multiple of 16;
 * the caller handles the last floats of a size that is not a multiple of 4.
 */

/** The parts of the WebAssembly API used here (this project's TypeScript libraries leave it out). */
interface Memory {
  buffer: ArrayBufferLike;
}
const WA = (
  globalThis as unknown as {
    WebAssembly: {
      Memory: abstract new (...args: never[]) => Memory;
      Module: new (bytes: Uint8Array) => object;
      Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
    };
  }
).WebAssembly;

/** The backend's memory: emscripten keeps it as wasmMemory (threaded build) or asm.memory. */
export function backendMemory(module: unknown): Memory | undefined {
  const m = module as { wasmMemory?: unknown; asm?: { memory?: unknown } } | undefined;
  const memory = m?.wasmMemory ?? m?.asm?.memory;
  return memory instanceof WA.Memory ? memory : undefined;
}

const I32 = 0x7f;
const F32 = 0x7d;
const V128 = 0x7b;

/** unsigned LEB128 */
function leb(n: number): number[] {
  const out: number[] = [];
  let v = n >>> 0;
  do {
    const byte = v & 0x7f;
    v >>>= 7;
    out.push(v ? byte | 0x80 : byte);
  } while (v);
  return out;
}

const vec = (items: number[][]): number[] => [...leb(items.length), ...items.flat()];
const section = (id: number, body: number[]): number[] => [id, ...leb(body.length), ...body];
const name = (s: string): number[] => [...leb(s.length), ...Array.from(s, (c) => c.charCodeAt(0))];

// parameters: 8 i32 (x, m, v, g, x2, m2, v2, bytes), then 10 f32 constants
const [X, M, V, G, X2, M2, V2, BYTES] = [0, 1, 2, 3, 4, 5, 6, 7];
const CONSTANTS = ['beta1', 'oneMinusBeta1', 'beta2', 'oneMinusBeta2', 'biasFix1', 'biasFix2', 'epsilon', 'step', 'divisor', 'decay'];
// locals: i (byte offset), one splat per constant, then xi, gi, mi, vi
const I = 18;
const splat = (k: string) => 19 + CONSTANTS.indexOf(k);
const [XI, GI, MI, VI] = [29, 30, 31, 32];

const get = (i: number) => [0x20, ...leb(i)];
const set = (i: number) => [0x21, ...leb(i)];
const simd = (op: number) => [0xfd, ...leb(op)];
const [LOAD, STORE, SPLAT, SQRT, ADD, MUL, DIV] = [0x00, 0x0b, 0x13, 0xe3, 0xe4, 0xe6, 0xe7];
const memarg = [0x02, 0x00]; // align 4 bytes, offset 0
const at = (base: number) => [...get(base), ...get(I), 0x6a]; // base + i
const load = (base: number) => [...at(base), ...simd(LOAD), ...memarg];

function body(): number[] {
  const code: number[] = [];
  for (const k of CONSTANTS.keys()) code.push(...get(8 + k), ...simd(SPLAT), ...set(19 + k));
  const times = (k: string) => [...get(splat(k)), ...simd(MUL)];
  code.push(0x03, 0x40); // loop
  code.push(...load(X), ...set(XI));
  code.push(...load(G), ...get(splat('divisor')), ...simd(DIV), ...get(XI), ...times('decay'), ...simd(ADD), ...set(GI));
  code.push(...load(M), ...times('beta1'), ...get(GI), ...times('oneMinusBeta1'), ...simd(ADD), ...set(MI));
  code.push(...load(V), ...times('beta2'), ...get(GI), ...get(GI), ...simd(MUL), ...times('oneMinusBeta2'), ...simd(ADD), ...set(VI));
  code.push(...at(M2), ...get(MI), ...simd(STORE), ...memarg);
  code.push(...at(V2), ...get(VI), ...simd(STORE), ...memarg);
  code.push(...at(X2), ...get(MI), ...get(splat('biasFix1')), ...simd(DIV));
  code.push(...get(VI), ...get(splat('biasFix2')), ...simd(DIV), ...simd(SQRT), ...get(splat('epsilon')), ...simd(ADD));
  code.push(...simd(DIV), ...times('step'), ...get(XI), ...simd(ADD), ...simd(STORE), ...memarg);
  // i += 16; continue while i < bytes
  code.push(...get(I), 0x41, ...leb(16), 0x6a, 0x22, ...leb(I), ...get(BYTES), 0x49, 0x0d, 0x00);
  code.push(0x0b, 0x0b); // end loop, end function
  const locals = vec([
    [...leb(1), I32],
    [...leb(14), V128],
  ]);
  return [...locals, ...code];
}

function encode(shared: boolean): Uint8Array {
  const type = [0x60, ...vec([...Array(8).fill([I32]), ...Array(10).fill([F32])]), ...vec([])];
  // a shared memory is imported with its maximum (emscripten's: 4 GiB, 65536 pages)
  const limits = shared ? [0x03, ...leb(1), ...leb(65536)] : [0x00, ...leb(1)];
  const code = body();
  return Uint8Array.from([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, vec([type])),
    ...section(2, vec([[...name('env'), ...name('memory'), 0x02, ...limits]])),
    ...section(3, vec([leb(0)])),
    ...section(7, vec([[...name('adam'), 0x00, ...leb(0)]])),
    ...section(10, vec([[...leb(code.length), ...code]])),
  ]);
}

export type AdamSimd = (...args: number[]) => void;

const compiled = new WeakMap<Memory, AdamSimd | null>();

/** The SIMD function over `memory`, or null where this engine cannot run it (no SIMD). */
export function adamSimd(memory: Memory): AdamSimd | null {
  let fn = compiled.get(memory);
  if (fn === undefined) {
    try {
      const shared = typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer;
      const instance = new WA.Instance(new WA.Module(encode(shared)), { env: { memory } });
      fn = instance.exports.adam as AdamSimd;
    } catch {
      fn = null;
    }
    compiled.set(memory, fn);
  }
  return fn;
}
