/** The version `permafrost_build_info` and the dashboard show (the CLI's `--version`). */
export const VERSION = '0.1.0';
