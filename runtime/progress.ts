// Progress of a long loop: a cli-progress bar on a terminal; elsewhere (a CI log, `| tee`,
// a file) a plain line every `every` steps and at the last one, since a bar redrawn in place
// never shows there and a clock-driven line would make the log depend on the machine's speed.
import cliProgress from 'cli-progress';

export type Payload = Record<string, string | number>;

export interface Progress {
  start(total: number, value: number, payload: Payload): void;
  update(value: number, payload: Payload): void;
  stop(): void;
}

/** `format` is cli-progress's: `{value}`, `{total}`, `{bar}`, `{eta_formatted}` and the
 *  payload's keys. Plain lines drop `{bar}` and the ETA. */
export function progress(format: string, opts: { tty: boolean; every: number; write: (line: string) => void }): Progress {
  if (opts.tty) {
    const bar = new cliProgress.SingleBar({ format, hideCursor: true, etaBuffer: 20 }, cliProgress.Presets.shades_classic);
    return { start: (t, v, p) => bar.start(t, v, p), update: (v, p) => bar.update(v, p), stop: () => bar.stop() };
  }
  const plain = format
    .replace(/\s*\|\{bar\}\|\s*/, ' | ')
    .replace(/\s*\|\s*ETA \{eta_formatted\}/, '')
    .trim();
  let total = 0;
  let last = -1;
  const line = (value: number, payload: Payload) => {
    last = value;
    opts.write(plain.replace(/\{(\w+)\}/g, (_, k: string) => String(k === 'value' ? value : k === 'total' ? total : (payload[k] ?? ''))));
  };
  return {
    start(t) {
      total = t;
    },
    update(value, payload) {
      if (value !== last && (value % opts.every === 0 || value === total)) line(value, payload);
    },
    stop() {},
  };
}
