export { TapLink, randomMac, validateIfName, netnsPath, resolveOffloads } from './tap-link.js';
export type { TapLinkOptions, TapLinkStats, TapMode, TapOffloadOptions } from './tap-link.js';
export * from './vnet.js';
export { addonBuilt, loadNative } from './native.js';
export { Lab, labUnavailableReason, analyzePcap, missingTools } from './lab.js';
export type { LabOptions, LabNs, ExecOptions, ExecResult, PcapReport, PcapCheckOptions } from './lab.js';
