import { describe, expect, it } from 'vitest';
import { newClusterId, parseProperties, renderLog4j2Config, renderServerProperties } from './broker-config.ts';

const input = { host: '127.0.0.1', port: 27092, controllerPort: 27093, dataDir: '/w/.local/kafka/data' };

describe('server.properties', () => {
  const props = parseProperties(renderServerProperties(input));

  it('runs one combined broker and controller on loopback, quorum bootstrapped for --standalone', () => {
    expect(props.get('process.roles')).toBe('broker,controller');
    expect(props.get('node.id')).toBe('1');
    expect(props.get('listeners')).toBe('PLAINTEXT://127.0.0.1:27092,CONTROLLER://127.0.0.1:27093');
    expect(props.get('advertised.listeners')).toBe('PLAINTEXT://127.0.0.1:27092');
    expect(props.get('controller.listener.names')).toBe('CONTROLLER');
    expect(props.get('controller.quorum.bootstrap.servers')).toBe('127.0.0.1:27093');
    // Static voters and --standalone are mutually exclusive: the format step would refuse.
    expect(props.has('controller.quorum.voters')).toBe(false);
    expect(props.get('log.dirs')).toBe('/w/.local/kafka/data');
  });

  it('sizes internal topics for one node and never creates topics implicitly', () => {
    for (const key of [
      'offsets.topic.replication.factor',
      'offsets.topic.num.partitions',
      'transaction.state.log.replication.factor',
      'transaction.state.log.min.isr',
      'transaction.state.log.num.partitions',
      'share.coordinator.state.topic.replication.factor',
      'share.coordinator.state.topic.min.isr',
      'share.coordinator.state.topic.num.partitions',
    ]) {
      expect(props.get(key), key).toBe('1');
    }
    expect(props.get('group.initial.rebalance.delay.ms')).toBe('0');
    expect(props.get('auto.create.topics.enable')).toBe('false');
  });

  it('follows the ports it is given', () => {
    const other = parseProperties(renderServerProperties({ ...input, port: 40100, controllerPort: 40200 }));
    expect(other.get('listeners')).toBe('PLAINTEXT://127.0.0.1:40100,CONTROLLER://127.0.0.1:40200');
    expect(other.get('controller.quorum.bootstrap.servers')).toBe('127.0.0.1:40200');
  });

  it('escapes backslashes so a value reads back unchanged', () => {
    const odd = parseProperties(renderServerProperties({ ...input, dataDir: 'C:\\kafka\\data' }));
    expect(odd.get('log.dirs')).toBe('C:\\kafka\\data');
  });
});

describe('log4j2 config', () => {
  it('logs to stdout (the launcher sends it to logs/server.log) and quiets the config dumps', () => {
    const props = parseProperties(renderLog4j2Config());
    expect(props.get('appender.out.type')).toBe('Console');
    expect(props.get('rootLogger.appenderRef.out.ref')).toBe('STDOUT');
    expect(props.get('logger.config.name')).toBe('org.apache.kafka.common.config.AbstractConfig');
    expect(props.get('logger.config.level')).toBe('WARN');
  });
});

describe('newClusterId', () => {
  it('is 22 URL-safe base64 characters, like kafka-storage random-uuid', () => {
    for (let i = 0; i < 200; i++) expect(newClusterId()).toMatch(/^[A-Za-z0-9_][A-Za-z0-9_-]{21}$/);
  });

  it('draws again rather than start with "-" or use a reserved id', () => {
    const draws = [
      Buffer.alloc(16, 0xf8), // base64url "-Pj4..."
      Buffer.alloc(16, 0), // ZERO_UUID
      Buffer.from([...Array<number>(15).fill(0), 1]), // METADATA_TOPIC_ID
      Buffer.alloc(16, 0x11),
    ];
    let calls = 0;
    const id = newClusterId(() => draws[calls++] ?? Buffer.alloc(16, 0x22));
    expect(calls).toBe(4);
    expect(id).toBe(Buffer.alloc(16, 0x11).toString('base64url'));
  });
});
