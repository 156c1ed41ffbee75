/** Small helpers shared by the peer processes (the programs the harness runs as children). */
const args = process.argv.slice(2);

/** Value of `--name v`, or the default. */
export function argOf(name, dflt) {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : dflt;
}

export function hasFlag(name) {
  return args.includes(name);
}

/** One JSON line on stdout: how a peer reports (READY markers and results). */
export function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}
