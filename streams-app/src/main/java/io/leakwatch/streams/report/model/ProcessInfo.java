package io.leakwatch.streams.report.model;

import com.fasterxml.jackson.annotation.JsonInclude;

/**
 * Which process a report speaks of.
 *
 * @param exitedAt ISO-8601, present once the process exited
 * @param cleanExit present once the process exited: false when it was killed or went silent
 * @param detached present (true) when the recording ended at a {@code leakwatch detach} or at an
 *     attached process's exec: {@code exited} then means the recording ended, the process ran on
 */
public record ProcessInfo(
    String host,
    int pid,
    String name,
    String command,
    boolean exited,
    @JsonInclude(JsonInclude.Include.NON_NULL) String exitedAt,
    @JsonInclude(JsonInclude.Include.NON_NULL) Boolean cleanExit,
    @JsonInclude(JsonInclude.Include.NON_DEFAULT) boolean detached) {
  /** A report that did not say. */
  public static final ProcessInfo UNKNOWN =
      new ProcessInfo("", 0, "", "", false, null, null, false);
}
