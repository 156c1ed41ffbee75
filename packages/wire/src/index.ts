export * from './tcp.js';
