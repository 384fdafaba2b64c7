/**
 * Notices when a request body stops moving. Each chunk calls {@link touch}; if none comes for
 * `timeoutMs` while the watch is running, `onIdle` runs once. The watch is paused while the
 * proxy itself waits on Connecteam, so only the caller's or storage's silence counts.
 */
export class IdleWatch {
  private lastActivity = Date.now();
  private running = false;
  private fired = false;
  private timer: NodeJS.Timeout | undefined;
  /** Set while the proxy waits for storage to take bytes, which shows whose silence it is. */
  waitingOnStorage = false;

  constructor(
    private readonly timeoutMs: number,
    private readonly onIdle: (storageStalled: boolean) => void,
  ) {}

  touch(): void {
    this.lastActivity = Date.now();
  }

  resume(): void {
    if (this.running || this.fired) return;
    this.running = true;
    this.touch();
    this.arm(this.timeoutMs);
  }

  pause(): void {
    this.running = false;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(delayMs: number): void {
    // One timer checked against the last activity, instead of a new timer for every chunk.
    this.timer = setTimeout(() => {
      const idleFor = Date.now() - this.lastActivity;
      if (!this.running) return;
      if (idleFor < this.timeoutMs) {
        this.arm(this.timeoutMs - idleFor);
        return;
      }
      this.running = false;
      this.fired = true;
      this.onIdle(this.waitingOnStorage);
    }, delayMs);
    this.timer.unref();
  }
}
