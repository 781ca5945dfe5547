/**
 * @countersign/mcp: an MCP server in front of upstream MCP servers, where
 * every tool call is a step the Countersign gateway decides, and crosses to
 * the upstream only with an execution of exactly that call recorded.
 * No native dependencies: it installs wherever the agent runs.
 */
export { deriveStep, durationMs, MappingError, ProxyConfig, proxyConfigJsonSchema, ToolMapping, Upstream, type DerivedStep } from './mapping.js';
export { CountersignProxy, PROGRESS_EVERY_MS, PROXY_NAME, PROXY_VERSION, type ProgressSink, type ProxyLog, type ProxyOptions } from './proxy.js';
export { connectUpstream, loadProxyConfig, ProxyStartError, serveHttp, serveStdio, startProxy, type HttpServeOptions, type RunningProxy, type StartOptions } from './run.js';
export { EXIT, mcpProgram, runMcpCli } from './cli.js';
