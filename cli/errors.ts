// The coded error of the command line (the runtime's errors carry codes of their own).
export class CliError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}
