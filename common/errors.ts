// The one error of tfm: a code from the diagnostics table (common/diagnostics.ts), a message,
// and the place in a spec when there is one. Every failure a user can cause — a file that
// cannot be read, a malformed checkpoint, a flag, a run that diverges — is a TfmError; the
// command line prints it as a diagnostic (`error[TFM5007]: …`) and exits 1. Anything else that
// escapes is a bug of tfm (TFM9000).
import type { Diagnostic } from './diagnostics.ts';
import type { SourceMap, Span } from './source.ts';

/** The diagnostics behind an error (a spec's check errors), for the command line to print in
 *  the format asked for. */
export interface ErrorDetails {
  diagnostics: Diagnostic[];
  sources: SourceMap;
}

export class TfmError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly span?: Span,
    readonly details?: ErrorDetails,
  ) {
    super(message);
    this.name = 'TfmError';
  }
}
