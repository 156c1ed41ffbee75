/**
 * Lab: throw-away network topologies in Linux network namespaces, for testing hastack against the
 * kernel's own TCP/UDP/ICMP (curl, socat, ncat, ping, iperf3).
 *
 * Topology of one lab (suffix S = "hs" + 6 random hex digits, unique per run):
 *
 *   netns S-cl ("client": the kernel's stack)        netns S-sw ("switch")
 *   ┌──────────────────────────┐                     ┌────────────────────────────────────┐
 *   │ Sc  198.18.N.1/24  ──────┼──── veth pair ──────┼─ Sv ─┐                             │
 *   │ (iptables loss, optional)│                     │      Sb (Linux bridge) ── St0, St1  │
 *   │ Su0 TUN 198.19.N.1/24    │                     │                      (our TAP fds)  │
 *   └──────────────────────────┘                     └────────────────────────────────────┘
 *
 * hastack stacks attach to TAP devices created inside the switch namespace and enslaved to the
 * bridge, and use addresses 198.18.N.2 and up. `addTun()` creates a TUN device in the client
 * namespace (kernel side 198.19.N.1/24, hastack 198.19.N.2).
 *
 * Rules (ARCHITECTURE.md §8): everything lives in namespaces this lab creates; nothing is configured
 * in the caller's namespace; addresses come only from 198.18.0.0/15; every name carries the suffix,
 * and `destroy()` removes it all (also on process exit/SIGINT/SIGTERM; `Lab.cleanupStale()` removes
 * leftovers of dead processes).
 */
import { execFile, execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { err } from '@hastack/stack';
import { TapLink, type TapLinkOptions } from './tap-link.js';

export interface LabOptions {
  /** Third octet N of the lab's networks 198.18.N.0/24 (TAP) and 198.19.N.0/24 (TUN). Random by default. */
  subnet?: number;
  /** Random loss in the client namespace, each way (0 ≤ p < 1), via iptables `statistic`. */
  loss?: number;
  /** MTU of the bridge and veth pair (default 1500). */
  mtu?: number;
  /** Log each command (e.g. `console.error`). */
  log?: (line: string) => void;
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  /** Kill the command after this long (default 60 s). */
  timeoutMs?: number;
  /** Data for stdin. */
  input?: string | Uint8Array;
  /** Resolve with a non-zero exit code instead of throwing. */
  allowFail?: boolean;
  /** Largest stdout/stderr kept (default 16 MiB). */
  maxBuffer?: number;
}

export type LabNs = 'client' | 'switch';

export interface PcapReport {
  /** Frames in the capture. */
  packets: number;
  /** Frames tshark flags as malformed: "number src info". */
  malformed: string[];
  /** Frames with a bad IPv4/ICMP/UDP/TCP checksum (after `trustPartialFrom` exclusions). */
  badChecksum: string[];
  /** TCP segments flagged "previous segment(s) not captured", with their source address. */
  lostSegments: { frame: number; src: string; info: string }[];
}

export interface PcapCheckOptions {
  /**
   * Don't check transport (TCP/UDP) checksums of frames from these sources: they were captured
   * before the kernel (or a NIC) completed a checksum left partial for offload.
   */
  trustPartialFrom?: string[];
  /** Don't check transport checksums at all (both sides offload). IPv4 header checksums are still checked. */
  skipTransportChecksums?: boolean;
}

/**
 * Checks a capture with tshark in one pass: malformed frames, bad checksums (IPv4 header, ICMP,
 * UDP, TCP) and TCP segments after a gap ("previous segment not captured"). TCP reassembly and
 * HTTP dissection are off (they only cost time on bulk captures). Throws if tshark is missing.
 */
export function analyzePcap(file: string, opts: PcapCheckOptions = {}): PcapReport {
  const info = execFileSync('capinfos', ['-c', '-M', '-T', '-r', file], { encoding: 'utf8' });
  const packets = Number(info.trim().split('\n').pop()!.split('\t')[1] ?? 0);
  const filter = '_ws.malformed || ip.checksum.status == 0 || icmp.checksum.status == 0 || udp.checksum.status == 0 || tcp.checksum.status == 0 || tcp.analysis.lost_segment';
  const args = ['-r', file, '-n', '-o', 'ip.check_checksum:TRUE', '-o', 'tcp.check_checksum:TRUE', '-o', 'udp.check_checksum:TRUE', '-o', 'tcp.desegment_tcp_streams:FALSE',
    '--disable-protocol', 'http', '-Y', filter, '-T', 'fields', '-E', 'separator=|'];
  for (const f of ['frame.number', 'ip.src', 'ip.checksum.status', 'icmp.checksum.status', 'udp.checksum.status', 'tcp.checksum.status', '_ws.col.Info']) args.push('-e', f);
  const out = execFileSync('tshark', args, { encoding: 'utf8', maxBuffer: 256 << 20, stdio: ['ignore', 'pipe', 'pipe'] });
  const trusted = new Set(opts.trustPartialFrom ?? []);
  const malformed: string[] = [];
  const badChecksum: string[] = [];
  const lostSegments: PcapReport['lostSegments'] = [];
  for (const line of out.split('\n')) {
    if (!line) continue;
    const [frame, src, ipS, icmpS, udpS, tcpS, ...rest] = line.split('|');
    const text = rest.join('|');
    if (text.includes('Malformed')) malformed.push(`${frame} ${src} ${text}`);
    // A TCP checksum of 0xFFFF where the sum computes to 0x0000 is the same one's-complement
    // value (RFC 1624 §3); Linux writes it (CSUM_MANGLED_0 in skb_checksum_help) about once per
    // 65536 segments it checksums in software. Wireshark flags it as "[TCP CHECKSUM 0xFFFF]".
    const tcpNegZero = tcpS === '0' && text.includes('[TCP CHECKSUM 0xFFFF]');
    const transportBad = udpS === '0' || (tcpS === '0' && !tcpNegZero);
    if (ipS === '0' || icmpS === '0' || (transportBad && !opts.skipTransportChecksums && !trusted.has(src))) badChecksum.push(`${frame} ${src} ${text}`);
    if (text.includes('Previous segment not captured') || text.includes('previous segment not captured')) lostSegments.push({ frame: Number(frame), src, info: text });
  }
  return { packets, malformed, badChecksum, lostSegments };
}

/** Why the lab cannot run here, or null when it can (root, /dev/net/tun, iproute2). */
export function labUnavailableReason(): string | null {
  if (process.platform !== 'linux') return `lab tests need Linux (this is ${process.platform})`;
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return `lab tests need root (uid is ${process.getuid()}): network namespaces, TAP devices`;
  if (!existsSync('/dev/net/tun')) return 'lab tests need /dev/net/tun (load the tun module / pass the device to the container)';
  try {
    execFileSync('ip', ['-V'], { stdio: 'ignore' });
  } catch {
    return 'lab tests need the `ip` command (iproute2)';
  }
  return null;
}

/** The programs of `names` that are not on PATH (the lab tests name their peers up front). */
export function missingTools(names: string[]): string[] {
  return names.filter((n) => {
    try {
      execFileSync('sh', ['-c', `command -v ${n}`], { stdio: 'ignore' });
      return false;
    } catch {
      return true;
    }
  });
}

const REGISTRY = '/run/hastack-lab';
const SUFFIX_RE = /^(hs[0-9a-f]{6})-(cl|sw|k\d+)$/;
const live = new Set<Lab>();
let hooksInstalled = false;

function onExit(): void {
  for (const lab of [...live]) lab.destroySync();
}

function onSignal(sig: NodeJS.Signals): void {
  onExit();
  process.removeListener(sig, onSignal);
  process.kill(process.pid, sig);
}

function installHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', onExit);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

function uninstallHooks(): void {
  if (!hooksInstalled || live.size > 0) return;
  hooksInstalled = false;
  process.removeListener('exit', onExit);
  process.removeListener('SIGINT', onSignal);
  process.removeListener('SIGTERM', onSignal);
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class Lab {
  /** Per-run suffix carried by every name: "hs" + 6 hex digits. */
  readonly suffix: string;
  /** Namespace names. */
  readonly clientNs: string;
  readonly switchNs: string;
  /** Device names (the bridge and the veth ends). */
  readonly bridge: string;
  readonly vethSwitch: string;
  readonly vethClient: string;
  /** N in 198.18.N.0/24. */
  readonly subnet: number;
  /** The kernel's address in the client namespace (198.18.N.1). */
  readonly clientIp: string;
  readonly prefixLen = 24;
  readonly mtu: number;

  private readonly log?: (line: string) => void;
  private readonly links: TapLink[] = [];
  private readonly procs = new Set<ChildProcess>();
  private tapCount = 0;
  private tunCount = 0;
  private readonly kernelHosts: string[] = [];
  private destroyed = false;
  private lossP = 0;

  private constructor(opts: LabOptions) {
    this.suffix = `hs${randomBytes(3).toString('hex')}`;
    this.clientNs = `${this.suffix}-cl`;
    this.switchNs = `${this.suffix}-sw`;
    this.bridge = `${this.suffix}b`;
    this.vethSwitch = `${this.suffix}v`;
    this.vethClient = `${this.suffix}c`;
    this.subnet = opts.subnet ?? randomBytes(1)[0];
    if (!Number.isInteger(this.subnet) || this.subnet < 0 || this.subnet > 255) throw err('ERR_INVALID_ARG_VALUE', 'subnet must be 0..255');
    this.clientIp = `198.18.${this.subnet}.1`;
    this.mtu = opts.mtu ?? 1500;
    if (opts.log) this.log = opts.log;
  }

  /** Builds a lab: client and switch namespaces, a bridge, a veth pair, the client's address. */
  static async create(opts: LabOptions = {}): Promise<Lab> {
    const reason = labUnavailableReason();
    if (reason) throw err('ENOTSUP', reason);
    const lab = new Lab(opts);
    live.add(lab);
    installHooks();
    try {
      mkdirSync(REGISTRY, { recursive: true });
      writeFileSync(`${REGISTRY}/${lab.suffix}`, String(process.pid));
      const { clientNs: cl, switchNs: sw, bridge, vethSwitch: vs, vethClient: vc, mtu } = lab;
      lab.run(['ip', 'netns', 'add', sw]);
      lab.run(['ip', 'netns', 'add', cl]);
      // IPv6 off: no router solicitations / MLD reports in the captures.
      for (const ns of [sw, cl]) {
        lab.run(['ip', 'netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
        lab.run(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
      }
      lab.run(['ip', '-n', sw, 'link', 'add', bridge, 'mtu', String(mtu), 'type', 'bridge', 'forward_delay', '0', 'stp_state', '0']);
      lab.run(['ip', '-n', sw, 'link', 'set', bridge, 'up']);
      lab.run(['ip', '-n', sw, 'link', 'add', vs, 'mtu', String(mtu), 'type', 'veth', 'peer', 'name', vc, 'mtu', String(mtu), 'netns', cl]);
      lab.run(['ip', '-n', sw, 'link', 'set', vs, 'master', bridge, 'up']);
      lab.run(['ip', '-n', cl, 'addr', 'add', `${lab.clientIp}/24`, 'dev', vc]);
      lab.run(['ip', '-n', cl, 'link', 'set', vc, 'up']);
      if (opts.loss) await lab.setLoss(opts.loss);
    } catch (e) {
      lab.destroySync();
      throw e;
    }
    return lab;
  }

  /** 198.18.N.<host>: host 1 is the kernel, 2.. are for hastack stacks. */
  addr(host: number): string {
    return `198.18.${this.subnet}.${host}`;
  }

  /** Path of a namespace's file (for TapLink's `netns` option). */
  nsPath(ns: LabNs | string): string {
    return `/var/run/netns/${this.nsName(ns)}`;
  }

  nsName(ns: LabNs | string): string {
    return ns === 'client' ? this.clientNs : ns === 'switch' ? this.switchNs : ns;
  }

  /** Opens a TAP device inside the switch namespace, enslaved to the bridge and up. */
  addTap(opts: Omit<TapLinkOptions, 'name' | 'netns' | 'mode'> & { name?: string } = {}): TapLink {
    this.alive();
    const name = opts.name ?? `${this.suffix}t${this.tapCount++}`;
    const link = new TapLink({ ...opts, name, mode: 'tap', netns: this.nsPath('switch') });
    this.links.push(link);
    try {
      this.run(['ip', '-n', this.switchNs, 'link', 'set', link.name, 'master', this.bridge, 'up']);
    } catch (e) {
      link.close();
      throw e;
    }
    return link;
  }

  /**
   * Opens a TUN device inside the client namespace with the kernel's side at 198.19.N.1/24; a
   * hastack stack on it uses 198.19.N.2 (see `tunAddr`).
   */
  addTun(opts: Omit<TapLinkOptions, 'name' | 'netns' | 'mode' | 'mac' | 'ifaceMac'> = {}): TapLink {
    this.alive();
    const i = this.tunCount++;
    const link = new TapLink({ ...opts, name: `${this.suffix}u${i}`, mode: 'tun', netns: this.nsPath('client') });
    this.links.push(link);
    try {
      this.run(['ip', '-n', this.clientNs, 'addr', 'add', `${this.tunAddr(1, i)}/24`, 'dev', link.name]);
    } catch (e) {
      link.close();
      throw e;
    }
    return link;
  }

  /**
   * Adds another kernel host: namespace S-k<i> on the bridge with address 198.18.N.(200+i)/24
   * (e.g. the second end of a kernel-to-kernel reference measurement).
   */
  addKernelHost(): { ns: string; ip: string } {
    this.alive();
    const i = this.kernelHosts.length;
    if (i >= 50) throw err('ERR_INVALID_ARG_VALUE', 'at most 50 kernel hosts per lab');
    const ns = `${this.suffix}-k${i}`;
    const ip = this.addr(200 + i);
    const vs = `${this.suffix}k${i}`;
    const vh = `${this.suffix}h${i}`;
    this.kernelHosts.push(ns);
    this.run(['ip', 'netns', 'add', ns]);
    this.run(['ip', 'netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
    this.run(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
    this.run(['ip', '-n', this.switchNs, 'link', 'add', vs, 'mtu', String(this.mtu), 'type', 'veth', 'peer', 'name', vh, 'mtu', String(this.mtu), 'netns', ns]);
    this.run(['ip', '-n', this.switchNs, 'link', 'set', vs, 'master', this.bridge, 'up']);
    this.run(['ip', '-n', ns, 'addr', 'add', `${ip}/24`, 'dev', vh]);
    this.run(['ip', '-n', ns, 'link', 'set', vh, 'up']);
    return { ns, ip };
  }

  /** Addresses on the TUN network of TUN device `index`: 198.19.(N+index).<host>. */
  tunAddr(host: number, index = 0): string {
    return `198.19.${(this.subnet + index) & 0xff}.${host}`;
  }

  /** Runs a command in a namespace and collects its output. Throws on a non-zero exit unless allowFail. */
  exec(ns: LabNs | string, argv: string[], opts: ExecOptions = {}): Promise<ExecResult> {
    this.alive();
    const full = ['netns', 'exec', this.nsName(ns), ...argv];
    this.log?.(`[lab ${this.suffix}] ip ${full.join(' ')}`);
    return new Promise((resolve, reject) => {
      const child = execFile('ip', full, { timeout: opts.timeoutMs ?? 60_000, maxBuffer: opts.maxBuffer ?? 16 << 20, encoding: 'utf8', killSignal: 'SIGKILL' }, (e, stdout, stderr) => {
        this.procs.delete(child);
        const code = e ? (typeof (e as NodeJS.ErrnoException & { code?: unknown }).code === 'number' ? ((e as unknown as { code: number }).code) : -1) : 0;
        const res = { code, stdout, stderr };
        if (e && !opts.allowFail) {
          const why = (e as { killed?: boolean }).killed ? `timed out after ${opts.timeoutMs ?? 60_000} ms` : `exit ${code}`;
          reject(err('ERR_TAP_IO', `lab command failed (${why}): ${argv.join(' ')}\n${stderr.slice(-2000)}`, { info: { stdout: stdout.slice(-2000), stderr: stderr.slice(-2000) } }));
        } else resolve(res);
      });
      this.procs.add(child);
      if (opts.input !== undefined) child.stdin?.end(opts.input);
      else child.stdin?.end();
    });
  }

  /** Starts a long-running command in a namespace (killed by destroy()). */
  spawn(ns: LabNs | string, cmd: string, args: string[] = [], opts: SpawnOptions = {}): ChildProcess {
    this.alive();
    this.log?.(`[lab ${this.suffix}] ip netns exec ${this.nsName(ns)} ${cmd} ${args.join(' ')}`);
    const child = spawn('ip', ['netns', 'exec', this.nsName(ns), cmd, ...args], { stdio: ['pipe', 'pipe', 'pipe'], ...opts });
    this.procs.add(child);
    child.once('exit', () => this.procs.delete(child));
    return child;
  }

  /** Sets random loss p (0 ≤ p < 1) on INPUT and OUTPUT of the client namespace (iptables statistic). */
  async setLoss(p: number): Promise<void> {
    if (typeof p !== 'number' || !(p >= 0 && p < 1)) throw err('ERR_INVALID_ARG_VALUE', 'loss must be in [0, 1)');
    this.alive();
    for (const chain of ['INPUT', 'OUTPUT']) this.run(['ip', 'netns', 'exec', this.clientNs, 'iptables', '-w', '-F', chain]);
    if (p > 0) {
      for (const chain of ['INPUT', 'OUTPUT']) {
        this.run(['ip', 'netns', 'exec', this.clientNs, 'iptables', '-w', '-A', chain, '-m', 'statistic', '--mode', 'random', '--probability', String(p), '-j', 'DROP']);
      }
    }
    this.lossP = p;
  }

  /** Packets dropped by the loss rules so far, per chain. */
  lossDrops(): { input: number; output: number } {
    if (this.lossP === 0) return { input: 0, output: 0 };
    const count = (chain: string): number => {
      const out = execFileSync('ip', ['netns', 'exec', this.clientNs, 'iptables', '-w', '-L', chain, '-v', '-x', '-n'], { encoding: 'utf8' });
      const line = out.split('\n').find((l) => l.includes('statistic'));
      return line ? Number(line.trim().split(/\s+/)[0]) : 0;
    };
    return { input: count('INPUT'), output: count('OUTPUT') };
  }

  /**
   * Starts tcpdump on a device of a namespace (full frames, 128 MiB kernel buffer, raised priority) writing `file`;
   * resolves once it listens. `stop()` resolves with the number of frames the kernel dropped
   * because tcpdump fell behind (a gap in the capture is then not the stack's doing).
   */
  async capture(ns: LabNs | string, dev: string, file: string, filter: string[] = []): Promise<{ stop(): Promise<{ dropped: number }> }> {
    // Raised CPU priority (nice -15): on a loaded machine a fast transfer (the stack's writer
    // thread keeps both cores busy) would otherwise starve tcpdump until its ring overflows.
    const child = this.spawn(ns, 'nice', ['-n', '-15', 'tcpdump', '-i', dev, '--immediate-mode', '-B', '131072', '-U', '-Z', 'root', '-n', '-s', '0', '-w', file, ...filter]);
    let errText = '';
    child.stderr!.on('data', (d: Buffer) => {
      errText += d.toString();
    });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(err('ERR_TAP_IO', `tcpdump did not start: ${errText}`)), 10_000);
      const poll = setInterval(() => {
        if (errText.includes('listening on')) {
          clearTimeout(timer);
          clearInterval(poll);
          resolve();
        }
      }, 5);
      child.once('exit', (code) => {
        clearTimeout(timer);
        clearInterval(poll);
        reject(err('ERR_TAP_IO', `tcpdump exited (${code}): ${errText}`));
      });
    });
    const dropped = (): { dropped: number } => ({ dropped: Number(/(\d+) packets? dropped by kernel/.exec(errText)?.[1] ?? 0) });
    return {
      stop: () =>
        new Promise((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve(dropped());
          child.once('exit', () => resolve(dropped()));
          child.kill('SIGINT');
          setTimeout(() => child.kill('SIGKILL'), 5000).unref();
        }),
    };
  }

  /** Tears everything down (links, processes, namespaces, registry entry). Idempotent. */
  async destroy(): Promise<void> {
    this.destroySync();
  }

  /** Synchronous teardown (used by exit handlers). */
  destroySync(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const link of this.links) {
      try {
        link.close();
      } catch {
        // keep tearing down
      }
    }
    for (const p of this.procs) {
      try {
        p.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
    this.procs.clear();
    // Deleting a namespace destroys every device in it (veth pair, bridge, TUN/TAP).
    for (const ns of [this.clientNs, ...this.kernelHosts, this.switchNs]) {
      try {
        execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
      } catch {
        // not created, or already gone
      }
    }
    rmSync(`${REGISTRY}/${this.suffix}`, { force: true });
    live.delete(this);
    uninstallHooks();
  }

  /**
   * Removes namespaces left by labs whose process is gone (crashes, kill -9). Labs of live processes
   * are left alone. Returns the names removed.
   */
  static cleanupStale(): string[] {
    const removed: string[] = [];
    let names: string[] = [];
    try {
      names = readdirSync('/var/run/netns');
    } catch {
      return removed;
    }
    for (const ns of names) {
      const m = SUFFIX_RE.exec(ns);
      if (!m) continue;
      const suffix = m[1];
      let pid = 0;
      try {
        pid = Number(readFileSync(`${REGISTRY}/${suffix}`, 'utf8'));
      } catch {
        pid = 0;
      }
      if (pid > 0 && pidAlive(pid)) continue;
      try {
        execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
        removed.push(ns);
      } catch {
        // raced with someone else
      }
      rmSync(`${REGISTRY}/${suffix}`, { force: true });
    }
    return removed;
  }

  private alive(): void {
    if (this.destroyed) throw err('ERR_TAP_IO', `lab ${this.suffix} is destroyed`);
  }

  private run(argv: string[]): void {
    this.log?.(`[lab ${this.suffix}] ${argv.join(' ')}`);
    try {
      execFileSync(argv[0], argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
    } catch (e) {
      const stderr = (e as { stderr?: string }).stderr ?? '';
      throw err('ERR_TAP_IO', `lab setup failed: ${argv.join(' ')}: ${stderr.trim()}`, { cause: e });
    }
  }
}
