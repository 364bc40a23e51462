/** Runs one piece of work at a time, in call order. */
export class Lock {
  #tail: Promise<void> = Promise.resolve();

  async run<T>(work: () => Promise<T> | T): Promise<T> {
    const previous = this.#tail;
    let release: () => void = () => undefined;
    this.#tail = new Promise<void>((resolve) => {
      release = resolve;
    });
    await previous;
    try {
      return await work();
    } finally {
      release();
    }
  }
}

/** Runs one piece of work at a time per key, in call order; work of different keys overlaps. */
export class KeyedLock {
  readonly #locks = new Map<string, { readonly lock: Lock; waiting: number }>();

  async run<T>(key: string, work: () => Promise<T> | T): Promise<T> {
    let entry = this.#locks.get(key);
    if (entry === undefined) {
      entry = { lock: new Lock(), waiting: 0 };
      this.#locks.set(key, entry);
    }
    entry.waiting += 1;
    try {
      return await entry.lock.run(work);
    } finally {
      entry.waiting -= 1;
      if (entry.waiting === 0) this.#locks.delete(key);
    }
  }

  /** Keys with work running or waiting (diagnostics and tests). */
  get size(): number {
    return this.#locks.size;
  }
}
