import { Body, Controller, Delete, Get, HttpCode, Inject, Post, Req, Res, UseGuards } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Principal } from '@writ/directory';
import { ApiKeyGuard, Caller } from '../http.ts';
import { JSONRPC } from './mcp-errors.ts';
import { McpGateway } from './mcp-gateway.ts';

/**
 * `POST /mcp`: Writ's MCP server (Streamable HTTP, stateless), for agents with their API key as
 * `Authorization: Bearer`. A stateless server opens no stream and keeps no session: GET and DELETE
 * are 405, as the transport specification allows.
 */
@Controller('mcp')
@UseGuards(ApiKeyGuard)
export class McpController {
  constructor(@Inject(McpGateway) private readonly gateway: McpGateway) {}

  @Post()
  async post(@Caller() caller: Principal, @Req() request: FastifyRequest, @Res() reply: FastifyReply, @Body() body: unknown): Promise<void> {
    await this.gateway.handle(caller, request, reply, body);
  }

  @Get()
  @HttpCode(405)
  stream(@Res({ passthrough: true }) reply: FastifyReply): unknown {
    void reply.header('allow', 'POST');
    return { jsonrpc: '2.0', id: null, error: { code: JSONRPC.invalidRequest, message: 'Method not allowed: this MCP server is stateless (POST only)' } };
  }

  @Delete()
  @HttpCode(405)
  end(@Res({ passthrough: true }) reply: FastifyReply): unknown {
    return this.stream(reply);
  }
}
