import { describe, expect, it } from 'vitest';
import { isWritError } from '@writ/errors';
import { brokerCommand } from './broker-process.ts';
import { localBrokers, resolveKafkaSettings } from './settings.ts';

const paths = { home: '/w/.local/kafka', libs: '/w/.local/kafka/libs' };

describe('kafka settings', () => {
  it('defaults to 127.0.0.1:27092 with the controller on the next port', () => {
    const settings = resolveKafkaSettings({ ...paths, env: {} });
    expect(localBrokers(settings)).toEqual(['127.0.0.1:27092']);
    expect(settings.controllerPort).toBe(27093);
    expect(settings.externalBrokers).toBeUndefined();
    expect(settings.layout.pidFile).toBe('/w/.local/kafka/kafka.pid');
    expect(settings.layout.logFile).toBe('/w/.local/kafka/logs/server.log');
    expect(settings.layout.dataDir).toBe('/w/.local/kafka/data');
  });

  it('takes WRIT_KAFKA_PORT and WRIT_KAFKA_CONTROLLER_PORT', () => {
    const moved = resolveKafkaSettings({ ...paths, env: { WRIT_KAFKA_PORT: '40000' } });
    expect([moved.port, moved.controllerPort]).toEqual([40000, 40001]);
    const both = resolveKafkaSettings({ ...paths, env: { WRIT_KAFKA_PORT: '40000', WRIT_KAFKA_CONTROLLER_PORT: '40500' } });
    expect([both.port, both.controllerPort]).toEqual([40000, 40500]);
  });

  it('names the variable and the rule when a port is wrong', () => {
    let failure: unknown;
    try {
      resolveKafkaSettings({ ...paths, env: { WRIT_KAFKA_PORT: '70000' } });
    } catch (error) {
      failure = error;
    }
    expect(isWritError(failure, 'CONFIG_INVALID')).toBe(true);
    expect(failure).toMatchObject({ field: 'WRIT_KAFKA_PORT', rule: 'must be between 1 and 65535, got 70000' });
    expect(() => resolveKafkaSettings({ ...paths, port: 40000, controllerPort: 40000, env: {} })).toThrow('must differ from the broker port 40000');
  });

  it('uses WRIT_KAFKA_BROKERS as an external cluster, validated', () => {
    const external = resolveKafkaSettings({ ...paths, env: { WRIT_KAFKA_BROKERS: '10.0.0.5:9092, 10.0.0.6:9092' } });
    expect(external.externalBrokers).toEqual(['10.0.0.5:9092', '10.0.0.6:9092']);
    expect(() => resolveKafkaSettings({ ...paths, env: { WRIT_KAFKA_BROKERS: 'nonsense' } })).toThrow(
      'WRIT_KAFKA_BROKERS must be a comma-separated list of host:port, got "nonsense"',
    );
  });

  it('runs kafka.Kafka on the jars with a small G1 heap, the log4j2 config and our properties', () => {
    const { command, args } = brokerCommand(resolveKafkaSettings({ ...paths, env: { JAVA_HOME: '/opt/jdk' } }));
    expect(command).toBe('/opt/jdk/bin/java');
    expect(args).toEqual(expect.arrayContaining(['-Xms256m', '-Xmx512m', '-XX:+UseG1GC']));
    expect(args).toContain('-Dlog4j2.configurationFile=/w/.local/kafka/config/log4j2.properties');
    expect(args).toContain('-Dkafka.logs.dir=/w/.local/kafka/logs');
    expect(args.slice(-4)).toEqual(['-cp', '/w/.local/kafka/libs/*', 'kafka.Kafka', '/w/.local/kafka/config/server.properties']);
    expect(args.some((arg) => arg.includes('jmxremote'))).toBe(false);
  });

  it('opens JMX only when asked (a benchmark counting requests), on loopback only', () => {
    const { args } = brokerCommand(resolveKafkaSettings({ ...paths, env: {}, jmxPort: 27494 }));
    expect(args).toEqual(
      expect.arrayContaining([
        '-Dcom.sun.management.jmxremote.port=27494',
        '-Dcom.sun.management.jmxremote.rmi.port=27494',
        '-Dcom.sun.management.jmxremote.host=127.0.0.1',
        '-Djava.rmi.server.hostname=127.0.0.1',
      ]),
    );
    expect(args.indexOf('-Dcom.sun.management.jmxremote.port=27494')).toBeLessThan(args.indexOf('kafka.Kafka'));
  });
});
