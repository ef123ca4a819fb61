/**
 * A wait with a deadline, for transports: `work` settles the result, unless `deadline` (a
 * Date.now() value) passes first; then `expire()` runs (cut the stream, doom the collective) and
 * its error rejects the wait.
 */
export function byDeadline<T>(work: Promise<T>, deadline: number, expire: () => Error): Promise<T> {
  return new Promise<T>((ok, fail) => {
    const timer = setTimeout(() => fail(expire()), Math.max(0, deadline - Date.now()));
    work.then(
      (v) => {
        clearTimeout(timer);
        ok(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        fail(e);
      },
    );
  });
}
