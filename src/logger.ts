/** The logging calls the middleware makes: pino, bunyan-like loggers and console wrappers fit. */
export interface Logger {
  debug(object: object, message?: string): void;
  info(object: object, message?: string): void;
  warn(object: object, message?: string): void;
  error(object: object, message?: string): void;
}

/** Default logger: warnings and errors on stderr, one JSON-ish line each. Never receives tokens or secrets. */
export const stderrLogger: Logger = {
  debug() {},
  info() {},
  warn(object, message) {
    process.stderr.write(`keystone-authtoken warning: ${message ?? ''} ${JSON.stringify(object)}\n`);
  },
  error(object, message) {
    process.stderr.write(`keystone-authtoken error: ${message ?? ''} ${JSON.stringify(object)}\n`);
  },
};

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };
