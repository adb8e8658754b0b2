package io.leakwatch.streams.topology;

import static org.assertj.core.api.Assertions.assertThat;

import io.leakwatch.schemas.AllocationEvent;
import io.leakwatch.schemas.AllocationKind;
import io.leakwatch.schemas.AvroSerde;
import io.leakwatch.schemas.CounterSample;
import io.leakwatch.schemas.EventBatch;
import io.leakwatch.schemas.EventType;
import io.leakwatch.schemas.ExitReport;
import io.leakwatch.schemas.ProcessExited;
import io.leakwatch.schemas.ProcessMessage;
import io.leakwatch.schemas.ProcessStarted;
import io.leakwatch.schemas.StackDefinition;
import io.leakwatch.streams.report.ReportBuilder;
import io.leakwatch.streams.state.LiveAllocation;
import io.leakwatch.streams.state.Outstanding;
import io.leakwatch.streams.state.ProcessState;
import io.leakwatch.streams.state.StackTrend;
import io.leakwatch.streams.stores.Keys;
import io.leakwatch.streams.stores.StoreNames;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.processor.api.MockProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.Stores;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * What Kafka Streams does to a processor that a TopologyTestDriver does not: a new instance on the
 * same stores (a restart, a task moved here), and the same instance initialised again after its
 * stores were rolled back to the last commit (a task revived after a failed transaction).
 */
class AllocationMatcherReviveTest {
  static {
    AvroSerde.trust(LiveAllocation.class, Outstanding.class, ProcessState.class, StackTrend.class);
  }

  private static final String HOST = "h1";
  private static final int PID = 7;
  private static final String PK = Keys.process(HOST, PID);

  private MockProcessorContext<String, ExitReport> context;
  private KeyValueStore<String, LiveAllocation> live;
  private KeyValueStore<String, ProcessState> processes;
  private long seq;

  private <V> KeyValueStore<String, V> store(String name, Serde<V> values) {
    KeyValueStore<String, V> s =
        Stores.keyValueStoreBuilder(Stores.inMemoryKeyValueStore(name), Serdes.String(), values)
            .withLoggingDisabled()
            .build();
    s.init(context.getStateStoreContext(), s);
    context.addStateStore(s);
    return s;
  }

  @BeforeEach
  void setUp() {
    context = new MockProcessorContext<>();
    context.setCurrentSystemTimeMs(1_000_000);
    context.setCurrentStreamTimeMs(1_000);
    live = store(StoreNames.LIVE, AvroSerde.of(LiveAllocation.class));
    store(StoreNames.OUTSTANDING, AvroSerde.of(Outstanding.class));
    store(StoreNames.TRENDS, AvroSerde.of(StackTrend.class));
    processes = store(StoreNames.PROCESSES, AvroSerde.of(ProcessState.class));
    store(StoreNames.EXIT_REPORTS, Serdes.String());
    store(StoreNames.COUNTERS, AvroSerde.of(CounterSample.class));
    store(StoreNames.STACKS, AvroSerde.of(StackDefinition.class));
  }

  private AllocationMatcher started() {
    AllocationMatcher m =
        new AllocationMatcher(TopologyOptions.defaults(ReportBuilder::exitReport));
    m.init(context);
    return m;
  }

  private void send(AllocationMatcher m, Object body) {
    send(m, PID, body);
  }

  private void send(AllocationMatcher m, int pid, Object body) {
    m.process(
        new Record<>(
            Keys.process(HOST, pid),
            ProcessMessage.newBuilder()
                .setHost(HOST)
                .setPid(pid)
                .setProcessStartTicks(5)
                .setBody(body)
                .build(),
            1_000L));
  }

  /** A started process with {@code n} live blocks (no stack definitions: none are needed). */
  private void bigProcess(AllocationMatcher m, int n) {
    bigProcess(m, PID, n);
  }

  private void bigProcess(AllocationMatcher m, int pid, int n) {
    send(
        m,
        pid,
        ProcessStarted.newBuilder()
            .setName("big")
            .setCommand("big")
            .setPpid(1)
            .setStartedAtMs(1)
            .setSampleBytes(0)
            .build());
    List<AllocationEvent> evs = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      evs.add(
          AllocationEvent.newBuilder()
              .setSeq(++seq)
              .setType(EventType.ALLOC)
              .setKind(AllocationKind.HEAP)
              .setAddress(0x100000L + 16L * i)
              .setSize(16)
              .setWeight(16)
              .setTimestampNs(1)
              .setStackId(0) // stack 0: "lost", so the exit does not wait for definitions
              .build());
    }
    send(
        m,
        pid,
        EventBatch.newBuilder()
            .setFirstSeq(1)
            .setEndSeq(seq + 1)
            .setLostEvents(0)
            .setEvents(evs)
            .build());
  }

  private void exit(AllocationMatcher m) {
    exit(m, PID);
  }

  private void exit(AllocationMatcher m, int pid) {
    send(
        m,
        pid,
        ProcessExited.newBuilder().setExitedAtMs(9).setClean(true).setLostEvents(0).build());
  }

  /** Runs the latest-scheduled deletion round (every 100 ms). */
  private void deletionRound() {
    List<MockProcessorContext.CapturedPunctuator> ps = context.scheduledPunctuators();
    for (int i = ps.size() - 1; i >= 0; i--) {
      if (ps.get(i).getInterval().equals(Duration.ofMillis(100))) {
        ps.get(i).getPunctuator().punctuate(0);
        return;
      }
    }
    throw new AssertionError("no deletion round scheduled");
  }

  private long liveRows() {
    long n = 0;
    try (KeyValueIterator<String, LiveAllocation> it = live.all()) {
      while (it.hasNext()) {
        it.next();
        n++;
      }
    }
    return n;
  }

  @Test
  void aNewInstanceOnTheSameStoresCarriesOnDeletingARetiredProcesssRows() {
    AllocationMatcher first = started();
    bigProcess(first, AllocationMatcher.ROWS_DELETED_PER_ROUND + 3_000);
    exit(first);
    assertThat(liveRows()).isEqualTo(3_000);

    started(); // a restart: a new instance, the index rebuilt from the processes store
    deletionRound();

    assertThat(liveRows()).isZero();
    assertThat(processes.get(PK).getRowsLeft()).isFalse();
  }

  @Test
  void aRevivedTaskWhoseRetirementWasRolledBackKeepsItsLiveRows() {
    AllocationMatcher m = started();
    bigProcess(m, AllocationMatcher.ROWS_DELETED_PER_ROUND + 3_000);
    ProcessState beforeExit = processes.get(PK);
    exit(m);
    // The transaction that retired it was aborted: its stores are back at the last commit (the
    // process live), and Kafka Streams initialises the same processor instance again.
    processes.put(PK, beforeExit);
    m.init(context);
    deletionRound();
    deletionRound();

    assertThat(liveRows()).as("a live process's rows are never deleted").isEqualTo(3_000);
    assertThat(processes.get(PK).getExited()).isFalse();
  }

  @Test
  void theRoundsBudgetIsSharedByEveryRetirementUntilTheNextRound() {
    AllocationMatcher m = started();
    bigProcess(m, AllocationMatcher.ROWS_DELETED_PER_ROUND - 1_000);
    exit(m); // uses all but 1,000 of the round's deletions (and a few for outstanding and trends)
    assertThat(liveRows()).isZero();

    // A second process of the same pid would delete the first's rows at once; another pid waits.
    bigProcess(m, PID + 1, 5_000);
    exit(m, PID + 1);
    assertThat(liveRows()).as("the second retirement had what the first left").isGreaterThan(3_000);
    deletionRound();
    assertThat(liveRows()).isZero();
  }
}
