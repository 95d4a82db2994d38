/** Structured JSON logs, one object per line on stdout. */
export type Level = "debug" | "info" | "warn" | "error";
const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
  /** Adds values that must never appear in a log line (a generated JWT key, say). */
  addSecret(value: string): void;
  /** Changes the level of this logger and every logger made from it (a reload). */
  setLevel(level: Level): void;
}

export interface LoggerOptions {
  level?: Level;
  /** Values scrubbed from every line, wherever they appear. */
  secrets?: string[];
  /** Where lines go; stdout by default. Tests pass a collector. */
  sink?: (line: string) => void;
}

const encoder = new TextEncoder();

function writeStdout(text: string): void {
  let bytes = encoder.encode(text);
  while (bytes.length > 0) bytes = bytes.subarray(Deno.stdout.writeSync(bytes));
}

/**
 * Lines logged in one turn of the event loop go out in one write, at its end (a microtask):
 * under load, a group of submissions answered together logs them with one syscall instead of
 * one each (the write was 5 % of intake's CPU). Nothing waits for a timer, so a line is on
 * stdout before the process reads its next socket event, and a process killed later has
 * written it; `error` lines, and whatever is pending on exit, are written at once.
 */
let pending: string[] = [];
function flushStdout(): void {
  if (pending.length === 0) return;
  const text = pending.join("\n") + "\n";
  pending = [];
  writeStdout(text);
}
// Deno.exit() and an uncaught error end the process before the microtask: flush there too.
for (const event of ["unload", "error", "unhandledrejection"]) {
  globalThis.addEventListener(event, flushStdout);
}

function stdoutSink(line: string, level: Level): void {
  if (level === "error") {
    flushStdout();
    writeStdout(line + "\n");
    return;
  }
  if (pending.push(line) === 1) queueMicrotask(flushStdout);
}

export function createLogger(opts: LoggerOptions = {}, base: Record<string, unknown> = {}): Logger {
  const state = {
    secrets: [...(opts.secrets ?? [])].filter((s) => s.length >= 4),
    min: ORDER[opts.level ?? "info"],
  };
  return make(opts, state, base);
}

function make(
  opts: LoggerOptions,
  state: { secrets: string[]; min: number },
  base: Record<string, unknown>,
): Logger {
  const sink: (line: string, level: Level) => void = opts.sink ?? stdoutSink;
  const write = (level: Level, msg: string, fields?: Record<string, unknown>) => {
    if (ORDER[level] < state.min) return;
    const record: Record<string, unknown> = {
      time: new Date().toISOString(),
      level,
      msg,
      ...base,
      ...fields,
    };
    for (const [k, v] of Object.entries(record)) {
      if (v instanceof Error) record[k] = { name: v.name, message: v.message };
    }
    let line: string;
    try {
      line = JSON.stringify(record);
    } catch {
      line = JSON.stringify({ time: record.time, level, msg });
    }
    for (const s of state.secrets) if (line.includes(s)) line = line.replaceAll(s, "[REDACTED]");
    sink(line, level);
  };
  return {
    debug: (m, f) => write("debug", m, f),
    info: (m, f) => write("info", m, f),
    warn: (m, f) => write("warn", m, f),
    error: (m, f) => write("error", m, f),
    child: (fields) => make(opts, state, { ...base, ...fields }),
    setLevel: (level) => {
      state.min = ORDER[level];
    },
    addSecret: (value) => {
      if (value.length >= 4) {
        state.secrets.push(value);
        const json = JSON.stringify(value).slice(1, -1);
        if (json !== value) state.secrets.push(json);
      }
    },
  };
}

/** A logger that keeps its lines in memory, for tests that look for leaked secrets. */
export function captureLogger(level: Level = "debug"): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  return { log: createLogger({ level, sink: (l) => lines.push(l) }), lines };
}
