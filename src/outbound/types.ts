/**
 * The one outbound HTTP client of the system: callbacks, event deliveries and agent
 * providers all send through it, so the SSRF guard, timeouts and response caps live in one
 * place (the Svix staging: sign → build headers → send → record the attempt).
 */

export interface OutboundPolicy {
  /** Refuse http:// targets (production). */
  requireHttps: boolean;
  /** CIDRs exempt from the private-address block (OUTBOUND_ALLOWED_CIDRS), e.g. 127.0.0.0/8, ::1/128. */
  allowedCidrs: readonly string[];
}

export interface OutboundRequest {
  url: string;
  method?: 'POST' | 'GET' | 'PUT';
  headers?: Record<string, string>;
  body?: string;
  /** Whole exchange (connect + response headers + capped body). */
  timeoutMs: number;
  /** false = accept any TLS certificate (an endpoint's verify_ssl = false). */
  verifyTls?: boolean;
  /** How much of the response body to keep (bytes); the rest is discarded unread. */
  maxResponseBytes?: number;
  signal?: AbortSignal;
}

export type OutboundErrorKind =
  | 'blocked' // target resolves to a forbidden address, or http:// where https is required
  | 'invalid_url'
  | 'dns'
  | 'timeout'
  | 'connection' // refused, reset, closed early
  | 'tls'
  | 'aborted';

export interface OutboundResponse {
  /** null when no HTTP response arrived. */
  status: number | null;
  headers: Record<string, string>;
  /** Response body decoded as UTF-8, at most maxResponseBytes. */
  body: string;
  bodyTruncated: boolean;
  latencyMs: number;
  error: { kind: OutboundErrorKind; message: string } | null;
}

export interface HttpClient {
  send(request: OutboundRequest): Promise<OutboundResponse>;
  /** Closes the pooled keep-alive connections (idle ones close by themselves). */
  close?(): void;
}
