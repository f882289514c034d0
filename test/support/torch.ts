// The PyTorch the conformance tests run: Debian's python3-torch under /usr/bin/python3, which
// .ci/run installs. Without it a test file skips its PyTorch tests locally and fails in CI.
import { spawnSync } from 'node:child_process';

export const PYTHON = '/usr/bin/python3';
export const hasTorch = spawnSync(PYTHON, ['-c', 'import torch, numpy'], { encoding: 'utf8' }).status === 0;
export const HOW = 'install PyTorch with: apt-get install -y --no-install-recommends python3-torch python3-numpy';
