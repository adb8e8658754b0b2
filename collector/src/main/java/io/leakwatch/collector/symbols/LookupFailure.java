package io.leakwatch.collector.symbols;

/**
 * Why debug info or a source line could not be had (a debuginfod server, the symbolizer); the
 * reason is the label the collector counts it under. No stack trace: these are expected outcomes.
 */
public final class LookupFailure extends Exception {
  private final String reason;

  LookupFailure(String reason, String detail) {
    super(reason + ": " + detail, null, false, false);
    this.reason = reason;
  }

  /** For example not_found, timeout, too_large, wrong_build_id, symbolizer_crashed. */
  public String reason() {
    return reason;
  }
}
