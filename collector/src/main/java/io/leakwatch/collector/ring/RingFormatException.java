package io.leakwatch.collector.ring;

/** A ring file whose header cannot be trusted: it is refused as a whole. */
public final class RingFormatException extends Exception {
  public RingFormatException(String message) {
    super(message);
  }
}
