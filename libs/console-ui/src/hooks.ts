// Live data for the views: poll an API call every few seconds while the view is shown, and reload
// at once when the gateway's live stream says the data changed (then poll seldom).
import { createContext } from 'preact';
import { useContext, useEffect, useRef, useState } from 'preact/hooks';
import type { ConsoleApi } from './api.ts';
import type { StreamEvent } from './logic.ts';

export interface Polled<T> {
  readonly data: T | undefined;
  readonly error: string | undefined;
  /** Fetch again now (after an approval, a switch). */
  readonly refresh: () => void;
}

export function usePoll<T>(load: () => Promise<T>, everyMs: number, deps: readonly unknown[]): Polled<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const [tick, setTick] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;
  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const run = async (): Promise<void> => {
      try {
        const value = await loadRef.current();
        if (!stopped) {
          setData(value);
          setError(undefined);
        }
      } catch (failure) {
        if (!stopped) setError(failure instanceof Error ? failure.message : String(failure));
      }
      if (!stopped) timer = setTimeout(() => void run(), everyMs);
    };
    void run();
    return () => {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
    };
  }, [...deps, tick, everyMs]);
  return { data, error, refresh: () => setTick((n) => n + 1) };
}

/** The current time, every second (time left on requests). */
export function useNow(everyMs = 1000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), everyMs);
    return () => clearInterval(timer);
  }, [everyMs]);
  return now;
}

/** Where the live stream stands: connecting, live (views refresh on its news), or polling (it failed; views poll as before). */
export type LiveState = 'connecting' | 'live' | 'polling';

/** While the stream is live, views still poll, this seldom (a safety net); otherwise at their own pace. */
export const LIVE_POLL_MS = 30_000;

/**
 * The console's one live stream (GET /v1/console/stream, read with fetch so the key travels in its
 * header): tells subscribers each event; reconnects after a failure, polling meanwhile.
 */
export class LiveFeed {
  #state: LiveState = 'connecting';
  #events = 0;
  readonly #listeners = new Set<(event: StreamEvent) => void>();
  readonly #watchers = new Set<() => void>();

  get state(): LiveState {
    return this.#state;
  }

  /** Events received since the page loaded (shown to tests and the curious). */
  get events(): number {
    return this.#events;
  }

  subscribe(listener: (event: StreamEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  watch(watcher: () => void): () => void {
    this.#watchers.add(watcher);
    return () => this.#watchers.delete(watcher);
  }

  /** Runs the stream until the returned function is called. */
  start(api: ConsoleApi): () => void {
    const abort = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    let failures = 0;
    const connect = (): void => {
      let live = false;
      // Never rejects: the second then turns the stream's end or failure into a reconnect.
      void api
        .stream(
          '/v1/console/stream',
          (event) => {
            this.#events += 1;
            if (event.event === 'ready') {
              failures = 0;
              live = true;
              this.#set('live');
            }
            for (const listener of this.#listeners) listener(event);
            this.#notify();
          },
          abort.signal,
        )
        .then(
          () => true,
          () => false,
        )
        .then((ended) => {
          if (abort.signal.aborted) return;
          // The gateway ends a stream after a while (its key is checked again on the next): reconnect at once.
          if (ended && live) {
            connect();
            return;
          }
          failures += 1;
          this.#set('polling');
          // 2 s, 4 s, ... at most 30 s between attempts.
          timer = setTimeout(connect, Math.min(2_000 * 2 ** (failures - 1), 30_000));
        });
    };
    connect();
    return () => {
      abort.abort();
      if (timer !== undefined) clearTimeout(timer);
    };
  }

  #set(state: LiveState): void {
    if (this.#state === state) return;
    this.#state = state;
    this.#notify();
  }

  #notify(): void {
    for (const watcher of this.#watchers) watcher();
  }
}

export const LiveContext = createContext<LiveFeed | undefined>(undefined);

/** The live stream's state and event count, re-rendered when they change. */
export function useLiveState(): { state: LiveState; events: number } {
  const feed = useContext(LiveContext);
  const [, setTick] = useState(0);
  useEffect(() => feed?.watch(() => setTick((n) => n + 1)), [feed]);
  return { state: feed?.state ?? 'polling', events: feed?.events ?? 0 };
}

/** Calls `refresh` when the stream brings an event `matches` accepts; returns the poll interval to use (slow while live). */
export function useLiveRefresh(matches: (event: StreamEvent) => boolean, refresh: () => void, everyMs: number): number {
  const feed = useContext(LiveContext);
  const { state } = useLiveState();
  const latest = useRef({ matches, refresh });
  latest.current = { matches, refresh };
  useEffect(
    () =>
      feed?.subscribe((event) => {
        if (latest.current.matches(event)) latest.current.refresh();
      }),
    [feed],
  );
  return state === 'live' ? LIVE_POLL_MS : everyMs;
}

/** usePoll that also reloads at once on the stream's matching events, and polls seldom while the stream is live. */
export function useLivePoll<T>(load: () => Promise<T>, everyMs: number, deps: readonly unknown[], matches: (event: StreamEvent) => boolean): Polled<T> {
  const refresh = useRef<() => void>(() => undefined);
  const interval = useLiveRefresh(matches, () => refresh.current(), everyMs);
  const polled = usePoll(load, interval, deps);
  refresh.current = polled.refresh;
  return polled;
}
