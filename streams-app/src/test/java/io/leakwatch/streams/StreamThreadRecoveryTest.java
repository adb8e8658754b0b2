package io.leakwatch.streams;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.common.errors.InvalidTxnStateException;
import org.apache.kafka.streams.errors.StreamsException;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse;
import org.junit.jupiter.api.Test;

class StreamThreadRecoveryTest {
  private final AtomicLong now = new AtomicLong(1_000_000);
  private final StreamThreadRecovery recovery = new StreamThreadRecovery(now::get);
  private final StreamsException brokerCutMidTransaction =
      new StreamsException(
          "Error encountered trying to commit a transaction",
          new InvalidTxnStateException(
              "The producer attempted a transactional operation in an invalid state."));

  @Test
  void aPassingFailureReplacesTheThread() {
    assertThat(recovery.handle(brokerCutMidTransaction))
        .isEqualTo(StreamThreadExceptionResponse.REPLACE_THREAD);
  }

  @Test
  void aFailureThatKeepsComingBackStopsTheInstanceAndAQuietWindowForgetsIt() {
    for (int i = 0; i < StreamThreadRecovery.MAX_REPLACEMENTS; i++) {
      assertThat(recovery.handle(brokerCutMidTransaction))
          .isEqualTo(StreamThreadExceptionResponse.REPLACE_THREAD);
      now.addAndGet(1000);
    }
    assertThat(recovery.handle(brokerCutMidTransaction))
        .isEqualTo(StreamThreadExceptionResponse.SHUTDOWN_CLIENT);
    now.addAndGet(StreamThreadRecovery.WINDOW_MS + 1);
    assertThat(recovery.handle(brokerCutMidTransaction))
        .isEqualTo(StreamThreadExceptionResponse.REPLACE_THREAD);
  }
}
