/**
 * A series of points that never grows past `capacity`: when full, every other point is dropped,
 * so the series keeps covering the whole run at half the resolution (a long run's curve stays the
 * same shape, its size stays bounded).
 */
export class BoundedSeries<T> {
  private points: T[] = [];

  constructor(private readonly capacity: number) {}

  push(p: T): void {
    if (this.points.length >= this.capacity) this.points = this.points.filter((_, i) => i % 2 === 1);
    this.points.push(p);
  }

  get values(): T[] {
    return [...this.points];
  }

  get length(): number {
    return this.points.length;
  }
}
