// The compiler version printed by `tfm --version` and stamped into generated files and SARIF.
export const COMPILER_VERSION = '0.1.0';
