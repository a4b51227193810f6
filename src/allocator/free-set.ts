// The free addresses of one pool range as disjoint intervals in a treap keyed by interval start.
// Lowest-free, take and give are O(log k) for k free intervals, independent of the range size, so a
// /16 or an IPv6 /64 costs the same per allocation as a /29 (no scan over addresses).

interface Node {
  lo: bigint;
  hi: bigint;
  priority: number;
  left: Node | undefined;
  right: Node | undefined;
}

/** Splits into (starts < key, starts >= key). */
function split(t: Node | undefined, key: bigint): [Node | undefined, Node | undefined] {
  if (!t) return [undefined, undefined];
  if (t.lo < key) {
    const [l, r] = split(t.right, key);
    t.right = l;
    return [t, r];
  }
  const [l, r] = split(t.left, key);
  t.left = r;
  return [l, t];
}

/** Joins two treaps where every start in a is below every start in b. */
function merge(a: Node | undefined, b: Node | undefined): Node | undefined {
  if (!a) return b;
  if (!b) return a;
  if (a.priority > b.priority) {
    a.right = merge(a.right, b);
    return a;
  }
  b.left = merge(a, b.left);
  return b;
}

const node = (lo: bigint, hi: bigint): Node => ({ lo, hi, priority: Math.random(), left: undefined, right: undefined });

export class FreeSet {
  readonly first: bigint;
  readonly last: bigint;
  #root: Node | undefined;
  #free: bigint;

  constructor(first: bigint, last: bigint) {
    this.first = first;
    this.last = last;
    this.#root = node(first, last);
    this.#free = last - first + 1n;
  }

  get freeCount(): bigint {
    return this.#free;
  }

  contains(value: bigint): boolean {
    return value >= this.first && value <= this.last;
  }

  /** The lowest free address, or undefined when the range is exhausted. */
  lowest(): bigint | undefined {
    let t = this.#root;
    while (t?.left) t = t.left;
    return t?.lo;
  }

  /** The free interval containing value, if value is free. */
  #find(value: bigint): Node | undefined {
    let t = this.#root;
    let floor: Node | undefined;
    while (t) {
      if (t.lo <= value) {
        floor = t;
        t = t.right;
      } else {
        t = t.left;
      }
    }
    return floor && floor.hi >= value ? floor : undefined;
  }

  isFree(value: bigint): boolean {
    return this.#find(value) !== undefined;
  }

  #remove(lo: bigint): void {
    const [a, rest] = split(this.#root, lo);
    const [, c] = split(rest, lo + 1n);
    this.#root = merge(a, c);
  }

  #insert(n: Node): void {
    const [a, b] = split(this.#root, n.lo);
    this.#root = merge(merge(a, n), b);
  }

  /** Marks value used; returns false if it was not free (or not in the range). */
  take(value: bigint): boolean {
    const hit = this.#find(value);
    if (!hit) return false;
    const { lo, hi } = hit;
    this.#remove(lo);
    if (lo < value) this.#insert(node(lo, value - 1n));
    if (value < hi) this.#insert(node(value + 1n, hi));
    this.#free -= 1n;
    return true;
  }

  /** Marks value free again, merging with neighbouring free intervals; false if already free or outside. */
  give(value: bigint): boolean {
    if (!this.contains(value) || this.isFree(value)) return false;
    let lo = value;
    let hi = value;
    const below = value > this.first ? this.#find(value - 1n) : undefined;
    if (below) {
      lo = below.lo;
      this.#remove(below.lo);
    }
    const above = value < this.last ? this.#find(value + 1n) : undefined;
    if (above) {
      hi = above.hi;
      this.#remove(above.lo);
    }
    this.#insert(node(lo, hi));
    this.#free += 1n;
    return true;
  }
}
