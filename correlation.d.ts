/**
 * Correlation ids (the `scriptcage` entry re-exports these).
 */

/** The header that carries the correlation id, in and out. */
export declare const CORRELATION_ID_HEADER: 'x-correlation-id';

/** Options of {@link correlationId}. */
export interface CorrelationIdOptions {
  /**
   * `true` (default): keep an incoming id only when it has 1 to 255
   * characters from `[A-Za-z0-9._~:=+/-]`. `false`: keep any non-empty
   * string. Anything else throws a `TypeError`.
   */
  validate?: boolean;
  /** UUID version to mint: 4 (default, random) or 7 (time-ordered). */
  version?: 4 | 7;
}

/**
 * The correlation id for a request: `incoming` when it is acceptable,
 * otherwise a freshly minted lower-case canonical UUID.
 */
export declare function correlationId(incoming?: string | null, options?: CorrelationIdOptions): string;
