package io.leakwatch.streams.topology;

import io.leakwatch.schemas.AvroSerde;
import io.leakwatch.schemas.CounterSample;
import io.leakwatch.schemas.ExitReport;
import io.leakwatch.schemas.Frame;
import io.leakwatch.schemas.ProcessMessage;
import io.leakwatch.schemas.StackDefinition;
import io.leakwatch.schemas.Topics;
import io.leakwatch.streams.state.LiveAllocation;
import io.leakwatch.streams.state.Outstanding;
import io.leakwatch.streams.state.ProcessState;
import io.leakwatch.streams.state.StackTrend;
import io.leakwatch.streams.stores.Keys;
import io.leakwatch.streams.stores.StackNames;
import io.leakwatch.streams.stores.StoreNames;
import java.util.List;
import java.util.concurrent.atomic.LongAdder;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueBytesStoreSupplier;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.Stores;

/**
 * The whole topology, built in one pure place (no clients, no configuration), so that
 * TopologyTestDriver tests exercise exactly what runs:
 *
 * <pre>
 *  leakwatch.events ──► allocation-matcher ──► leakwatch.exit-reports
 *                          │  live-allocations, outstanding, processes, exit-reports
 *  leakwatch.counters ─► counter-recorder ──┘  process-counters (shared: co-partitioned by host/pid)
 *  leakwatch.stacks ───► stack-definitions (global store: every instance can name every stack)
 * </pre>
 */
public final class LeakTopology {
  static {
    AvroSerde.trust(LiveAllocation.class, Outstanding.class, ProcessState.class, StackTrend.class);
  }

  /** Which store implementation backs the per-process state (persistent RocksDB by default). */
  public enum StoreKind {
    ROCKSDB,
    IN_MEMORY
  }

  private LeakTopology() {}

  /**
   * The topology that {@code options} describe; the only way to build it (tests and the app alike).
   */
  public static Topology build(TopologyOptions options) {
    long staleAfterMs = options.staleAfterMs();
    StoreKind kind = options.storeKind();
    Serde<String> keys = Serdes.String();
    Topology t = new Topology();
    t.addSource(
        "events",
        keys.deserializer(),
        AvroSerde.of(ProcessMessage.class).deserializer(),
        Topics.EVENTS);
    t.addSource(
        "counters",
        keys.deserializer(),
        AvroSerde.of(CounterSample.class).deserializer(),
        Topics.COUNTERS);
    t.addProcessor("allocation-matcher", () -> new AllocationMatcher(options), "events");
    t.addProcessor("counter-recorder", () -> new CounterRecorder(staleAfterMs), "counters");
    t.addSink(
        "exit-reports-sink",
        Topics.EXIT_REPORTS,
        keys.serializer(),
        AvroSerde.of(ExitReport.class).serializer(),
        "allocation-matcher");

    t.addStateStore(
        Stores.keyValueStoreBuilder(
            supplier(kind, StoreNames.LIVE), keys, AvroSerde.of(LiveAllocation.class)),
        "allocation-matcher");
    t.addStateStore(
        Stores.keyValueStoreBuilder(
            supplier(kind, StoreNames.OUTSTANDING), keys, AvroSerde.of(Outstanding.class)),
        "allocation-matcher");
    t.addStateStore(
        Stores.keyValueStoreBuilder(
            supplier(kind, StoreNames.TRENDS), keys, AvroSerde.of(StackTrend.class)),
        "allocation-matcher");
    t.addStateStore(
        Stores.keyValueStoreBuilder(
            supplier(kind, StoreNames.PROCESSES), keys, AvroSerde.of(ProcessState.class)),
        "allocation-matcher",
        "counter-recorder");
    t.addStateStore(
        Stores.keyValueStoreBuilder(supplier(kind, StoreNames.EXIT_REPORTS), keys, Serdes.String()),
        "allocation-matcher");
    t.addStateStore(
        Stores.keyValueStoreBuilder(
            supplier(kind, StoreNames.COUNTERS), keys, AvroSerde.of(CounterSample.class)),
        "allocation-matcher",
        "counter-recorder");

    t.addGlobalStore(
        Stores.keyValueStoreBuilder(
                supplier(kind, StoreNames.STACKS),
                keys,
                Serdes.serdeFrom(
                    AvroSerde.of(StackDefinition.class).serializer(),
                    new LenientStackDeserializer(null)))
            .withLoggingDisabled(),
        "stacks-source",
        keys.deserializer(),
        new LenientStackDeserializer(MALFORMED_STACK),
        Topics.STACKS,
        "stack-definitions-updater",
        () -> new StackDefinitionUpdater(options.malformedStacks(), options.stackNames()));
    return t;
  }

  private static KeyValueBytesStoreSupplier supplier(StoreKind kind, String name) {
    return kind == StoreKind.IN_MEMORY
        ? Stores.inMemoryKeyValueStore(name)
        : Stores.persistentKeyValueStore(name);
  }

  /** Keeps the latest counter sample of each process. */
  static final class CounterRecorder implements Processor<String, CounterSample, Void, Void> {
    private final long refreshAfterMs;
    private KeyValueStore<String, CounterSample> counters;
    private KeyValueStore<String, ProcessState> processes;
    private ProcessorContext<Void, Void> context;

    /**
     * @param staleAfterMs silence after which a process is retired: refreshes come well within it
     */
    CounterRecorder(long staleAfterMs) {
      this.refreshAfterMs = Math.min(60_000, Math.max(1_000, staleAfterMs / 10));
    }

    @Override
    public void init(ProcessorContext<Void, Void> context) {
      this.context = context;
      counters = context.getStateStore(StoreNames.COUNTERS);
      processes = context.getStateStore(StoreNames.PROCESSES);
    }

    @Override
    public void process(Record<String, CounterSample> record) {
      CounterSample c = record.value();
      if (c == null) return;
      String pk = Keys.process(c.getHost(), c.getPid());
      Keys.requireKeyMatches(record.key(), pk);
      counters.put(pk, c);
      // A sample says the process is still there (an idle process sends no events): it is not
      // stale.
      // Refreshed at most once a minute (or a tenth of the silence that retires), to keep the
      // processes changelog quiet.
      // Stamped with what the task has read, not the wall clock: see HeardClock.
      ProcessState st = processes.get(pk);
      long heard = HeardClock.stamp(context.currentStreamTimeMs(), context.currentSystemTimeMs());
      if (st != null && !st.getExited() && heard - st.getLastEventMs() > refreshAfterMs) {
        st.setLastEventMs(heard);
        processes.put(pk, st);
      }
    }
  }

  /**
   * Stands for an unreadable stacks record (null would be a tombstone and delete the key's stack).
   */
  static final StackDefinition MALFORMED_STACK =
      StackDefinition.newBuilder()
          .setId("")
          .setAllocator("")
          .setCulprit("")
          .setFrames(List.of())
          .build();

  /** Reads stack definitions without ever throwing: unreadable bytes become {@code onMalformed}. */
  static final class LenientStackDeserializer implements Deserializer<StackDefinition> {
    private final Deserializer<StackDefinition> strict =
        AvroSerde.of(StackDefinition.class).deserializer();
    private final StackDefinition onMalformed;

    LenientStackDeserializer(StackDefinition onMalformed) {
      this.onMalformed = onMalformed;
    }

    @Override
    public StackDefinition deserialize(String topic, byte[] data) {
      if (data == null) return null;
      try {
        return strict.deserialize(topic, data);
      } catch (RuntimeException e) {
        return onMalformed;
      }
    }
  }

  /**
   * Fills the global stack store from the compacted topic (a tombstone removes a stack). Kafka
   * Streams 4.4 runs it when it restores the store from the topic too, so the richer-of-two rule
   * holds for an instance that starts afresh (StreamsAppIntegrationTest pins that).
   */
  static final class StackDefinitionUpdater
      implements Processor<String, StackDefinition, Void, Void> {
    private final LongAdder malformed;
    private final StackNames names;
    private KeyValueStore<String, StackDefinition> stacks;

    StackDefinitionUpdater(LongAdder malformed, StackNames names) {
      this.malformed = malformed;
      this.names = names;
    }

    @Override
    public void init(ProcessorContext<Void, Void> context) {
      stacks = context.getStateStore(StoreNames.STACKS);
    }

    @Override
    public void process(Record<String, StackDefinition> record) {
      if (record.value() == MALFORMED_STACK || record.key() == null) {
        malformed.increment();
        return;
      }
      if (record.value() == null) {
        stacks.delete(record.key());
        names.changed(record.key());
        return;
      }
      // Collectors send a stack again under its id once debug info gave it file and line; a host
      // without that debug info may send the plain one later. Keep the richer of the two.
      StackDefinition stored = stacks.get(record.key());
      if (stored != null && framesWithLines(stored) > framesWithLines(record.value())) return;
      stacks.put(record.key(), record.value());
      names.changed(record.key()); // after the write: see StackNames
    }

    static int framesWithLines(StackDefinition d) {
      int n = 0;
      for (Frame f : d.getFrames()) if (f.getFile() != null) n++;
      return n;
    }
  }
}
