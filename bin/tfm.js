#!/usr/bin/env node
// Entry point of the `tfm` command: runs the TypeScript sources through tsx's loader, so
// that the installed command and `npm run tfm` run exactly the same code.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
