import { describe, expect, it } from 'vitest';
import { excerptOf } from './log-tail.ts';

const log = [
  '[2026-11-22 03:01:33,218] INFO [SocketServer listenerType=CONTROLLER, nodeId=1] Enabling request processing. (kafka.network.SocketServer)',
  '[2026-11-22 03:01:33,226] ERROR Unable to start acceptor for CONTROLLER (kafka.network.DataPlaneAcceptor)',
  'org.apache.kafka.common.KafkaException: Socket server failed to bind to 127.0.0.1:27193: Address already in use.',
  '\tat org.apache.kafka.server.ServerSocketFactory$KafkaServerSocketFactory.openServerSocket(ServerSocketFactory.java:56) ~[kafka-server-4.1.1.jar:?]',
  '\tat kafka.network.Acceptor.openServerSocket(SocketServer.scala:634) ~[kafka_2.13-4.1.1.jar:?]',
  '\t... 6 more',
  ...Array.from({ length: 40 }, (_, i) => `[2026-11-22 03:01:34,${String(i).padStart(3, '0')}] INFO shutting down step ${i} (kafka.server.BrokerServer)`),
].join('\n');

describe('log excerpt', () => {
  it('puts the first error and its exception first, then the last lines without stack frames', () => {
    const lines = excerptOf(log, 5).split('\n');
    expect(lines.slice(0, 3)).toEqual([
      'first error:',
      '[2026-11-22 03:01:33,226] ERROR Unable to start acceptor for CONTROLLER (kafka.network.DataPlaneAcceptor)',
      'org.apache.kafka.common.KafkaException: Socket server failed to bind to 127.0.0.1:27193: Address already in use.',
    ]);
    expect(lines[3]).toBe('last lines:');
    expect(lines.slice(4)).toHaveLength(5);
    expect(lines.at(-1)).toContain('shutting down step 39');
    expect(lines.some((line) => line.trimStart().startsWith('at '))).toBe(false);
  });

  it('is just the tail when nothing failed loudly', () => {
    expect(excerptOf('a\nb\nc\n', 2)).toBe('b\nc');
  });
});
