import { readFileSync } from 'node:fs';
import { Controller, Get, Header } from '@nestjs/common';

/** The OpenAPI 3.1 document of this API, services/gateway/openapi.json (read once). */
export const OPENAPI_DOCUMENT: Readonly<Record<string, unknown>> = JSON.parse(readFileSync(new URL('../openapi.json', import.meta.url), 'utf8')) as Record<
  string,
  unknown
>;

@Controller('v1')
export class OpenApiController {
  @Get('openapi.json')
  @Header('cache-control', 'no-cache')
  document(): Readonly<Record<string, unknown>> {
    return OPENAPI_DOCUMENT;
  }
}
