export { createClickHouse, clickHouseFromEnv, clickHouseOptionsFromEnv, clickHouseMode, describeClickHouse } from './clickhouse.ts';
export type { ClickHouseOptions, ClickHouseMode } from './clickhouse.ts';
export type { ClickHouseClient } from '@clickhouse/client';
export { sqlStatements } from './ddl-files.ts';
