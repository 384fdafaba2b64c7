import { startEmulator } from '../../src/emulator/emulator';

/**
 * Runs the emulator as its own process for the benchmark: quota limits high enough that no
 * upload waits for them, no injected delay, and no object content kept in memory.
 */
async function main(): Promise<void> {
  const emulator = await startEmulator({
    host: '127.0.0.1',
    port: Number(process.env.EMULATOR_PORT),
    apiKeys: [process.env.EMULATOR_API_KEY ?? ''],
    minuteLimit: Number(process.env.EMULATOR_MINUTE_LIMIT),
    dayLimit: Number(process.env.EMULATOR_DAY_LIMIT),
    keepBodiesUpToBytes: 0,
    keptBodiesMaxTotalBytes: 0,
  });
  const stop = () => void emulator.close().then(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((error: unknown) => {
  process.stderr.write(`the emulator failed to start: ${String(error)}\n`);
  process.exit(1);
});
