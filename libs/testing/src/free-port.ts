import { createServer } from 'node:net';

/**
 * A loopback port nothing listens on right now (the kernel picks it). It lies in the ephemeral
 * range, so use it at once: for a short-lived process of one test, never for a fixed port.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}
