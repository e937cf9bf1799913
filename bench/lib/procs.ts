import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';

/**
 * Child processes of the bench: each in its own process group (so a terminal's Ctrl-C reaches
 * only the bench, which then stops them in order), output to a log file, stopped on exit.
 */
export interface Child {
  name: string;
  process: ChildProcess;
  pid: number;
  logFile: string;
  /** Last part of the log, for error messages. */
  tail(chars?: number): string;
  stop(): Promise<void>;
}

const children = new Set<Child>();

// Last resort if the bench dies without cleaning up: no child may outlive it.
process.once('exit', () => {
  for (const child of children) {
    if (child.process.exitCode === null && child.process.signalCode === null) child.process.kill('SIGKILL');
  }
});

/** Compiled entries (`dist/**.js`) run on plain node, as in production; TypeScript ones under tsx. `nodeArgs` go first (e.g. --cpu-prof). */
export function spawnNode(name: string, entry: string, env: Record<string, string | undefined>, logFile: string, nodeArgs: string[] = []): Child {
  const fd = openSync(logFile, 'a');
  const proc = spawn(process.execPath, [...nodeArgs, ...(entry.endsWith('.ts') ? ['--import', 'tsx', entry] : [entry])], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env } as NodeJS.ProcessEnv,
    stdio: ['ignore', fd, fd],
    detached: true,
  });
  closeSync(fd);
  const child: Child = {
    name,
    process: proc,
    pid: proc.pid!,
    logFile,
    tail: (chars = 3000) => (existsSync(logFile) ? readFileSync(logFile, 'utf8').slice(-chars) : ''),
    stop: async () => {
      children.delete(child);
      await stopProcess(proc);
    },
  };
  children.add(child);
  return child;
}

export async function stopProcess(proc: ChildProcess, graceMs = 10_000): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const gone = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  proc.kill('SIGTERM');
  const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
  await gone;
  clearTimeout(timer);
}

export function exited(child: Child): boolean {
  return child.process.exitCode !== null || child.process.signalCode !== null;
}

/** Polls until `check` returns a value, failing early when one of `watch` exits. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined>, timeoutMs: number, watch: Child[] = []): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const dead = watch.find(exited);
    if (dead) throw new Error(`${dead.name} exited while waiting for ${what}:\n${dead.tail()}`);
    const value = await check().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) {
      const logs = watch.map((c) => `--- ${c.name} (${c.logFile}):\n${c.tail(1500)}`).join('\n');
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${logs}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Resident set size now and its peak (VmHWM) in bytes, from /proc; undefined if gone. */
export function memoryOf(pid: number): { rss: number; hwm: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN) * 1024;
    return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
  } catch {
    return undefined;
  }
}

/** Samples VmRSS of named pids every `intervalMs`; reports the peak seen and the kernel's VmHWM. */
export class RssSampler {
  private readonly peaks = new Map<string, number>();
  private readonly hwm = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly pids: Record<string, number>) {}

  start(intervalMs = 250): void {
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
  }

  sample(): void {
    for (const [name, pid] of Object.entries(this.pids)) {
      const mem = memoryOf(pid);
      if (!mem) continue;
      this.peaks.set(name, Math.max(this.peaks.get(name) ?? 0, mem.rss));
      this.hwm.set(name, Math.max(this.hwm.get(name) ?? 0, mem.hwm));
    }
  }

  stop(): Record<string, { peakRssSampled: number; vmHwm: number }> {
    this.sample();
    clearInterval(this.timer);
    const out: Record<string, { peakRssSampled: number; vmHwm: number }> = {};
    for (const name of Object.keys(this.pids)) {
      out[name] = { peakRssSampled: this.peaks.get(name) ?? Number.NaN, vmHwm: this.hwm.get(name) ?? Number.NaN };
    }
    return out;
  }
}

/** CPU time (user + system) a process has used so far, in ms; 0 once it is gone. */
export function cpuMsOf(pid: number, statFile = `/proc/${pid}/stat`): number {
  try {
    const fields = readFileSync(statFile, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) * (1000 / CLOCK_TICKS);
  } catch {
    return 0;
  }
}
/** USER_HZ: 100 on every mainstream Linux build. */
const CLOCK_TICKS = 100;
