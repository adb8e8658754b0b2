package io.leakwatch.streams;

import java.util.ArrayDeque;
import java.util.function.LongSupplier;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What a stream thread's failure does: the thread is replaced (a fresh producer, its tasks resumed
 * from the last commit under exactly-once), because the failures a fleet meets are passing ones: a
 * broker cut off mid-transaction leaves the thread's producer in a state it cannot leave
 * (InvalidTxnStateException), and Kafka Streams' default then shuts the whole instance down for
 * good. A failure that keeps coming back (more than {@link #MAX_REPLACEMENTS} in {@link
 * #WINDOW_MS}) is not passing: the instance stops, its liveness endpoint says so, and its
 * supervisor restarts it.
 */
final class StreamThreadRecovery implements StreamsUncaughtExceptionHandler {
  static final int MAX_REPLACEMENTS = 10;
  static final long WINDOW_MS = 10 * 60_000;
  private static final Logger log = LoggerFactory.getLogger(StreamThreadRecovery.class);

  private final LongSupplier clock;
  private final ArrayDeque<Long> recent = new ArrayDeque<>();

  StreamThreadRecovery(LongSupplier clock) {
    this.clock = clock;
  }

  @Override
  public synchronized StreamThreadExceptionResponse handle(Throwable e) {
    long now = clock.getAsLong();
    while (!recent.isEmpty() && now - recent.peekFirst() > WINDOW_MS) recent.pollFirst();
    Throwable root = e;
    while (root.getCause() != null && root.getCause() != root) root = root.getCause();
    if (recent.size() >= MAX_REPLACEMENTS) {
      log.error(
          "stream thread failed again ({}): {} replacements in {} min, stopping this instance",
          root,
          recent.size(),
          WINDOW_MS / 60_000,
          e);
      return StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
    }
    recent.addLast(now);
    log.warn(
        "stream thread failed ({}); replacing it, its tasks resume from their last commit",
        root.toString());
    return StreamThreadExceptionResponse.REPLACE_THREAD;
  }
}
