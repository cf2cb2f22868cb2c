/** Where diff2s components report. The CLI's logger writes to stderr; libraries default to {@link consoleLogger}. */
export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  debug(message: string): void;
}

export const consoleLogger: Logger = {
  info: (m) => console.error(m),
  warn: (m) => console.warn(m),
  debug: (m) => {
    if (process.env.DIFF2S_DEBUG) console.error(m);
  },
};

/** A logger that records messages (tests) and prints nothing. */
export class MemoryLogger implements Logger {
  readonly messages: { level: 'info' | 'warn' | 'debug'; message: string }[] = [];
  info(message: string): void { this.messages.push({ level: 'info', message }); }
  warn(message: string): void { this.messages.push({ level: 'warn', message }); }
  debug(message: string): void { this.messages.push({ level: 'debug', message }); }
}
