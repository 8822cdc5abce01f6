/**
 * Types for `eth-url-parser` (a third-party EIP-681 / ERC-831 parser that ships none), as far as
 * the invoice tests use it: they read a payment URI back with it, independently of our code.
 */
declare module 'eth-url-parser' {
  export interface ParsedEthereumUrl {
    scheme: 'ethereum';
    prefix?: string;
    target_address: string;
    chain_id?: string;
    function_name?: string;
    /** Query parameters; for `transfer` the amount is `uint256`, normalised to a plain integer string. */
    parameters?: Record<string, string>;
  }

  /** Parses an `ethereum:` URI; throws when it is not one. */
  export function parse(uri: string): ParsedEthereumUrl;
}
