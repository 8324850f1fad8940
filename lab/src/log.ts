export type Logger = (message: string) => void;

/** Progress goes to stderr so stdout stays clean for results (and for vitest's reporter). */
export const defaultLogger: Logger = (message) => {
  process.stderr.write(`[vmlab] ${message}\n`);
};

export const silentLogger: Logger = () => {};
