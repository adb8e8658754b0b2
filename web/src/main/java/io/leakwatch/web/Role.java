package io.leakwatch.web;

/**
 * What an authenticated user may read. Reports carry command lines, binary paths and stacks of
 * every process of the fleet; metrics carry names and figures only, so a scraper gets the smaller
 * role.
 */
public enum Role {
  /** /metrics, /healthz and /readyz: what Prometheus needs. */
  METRICS,
  /** Everything: reports, pages, the API, and the metrics. */
  READ;

  /** Paths anyone may ask (health of the instance, no data). */
  public static boolean open(String path) {
    return "/healthz".equals(path) || "/readyz".equals(path);
  }

  public boolean allows(String path) {
    return this == READ || open(path) || "/metrics".equals(path);
  }
}
