package io.leakwatch.streams.topology;

import io.leakwatch.schemas.AvroSerde;
import io.leakwatch.schemas.CounterSample;
import io.leakwatch.schemas.ExitReport;
import io.leakwatch.schemas.ProcessMessage;
import io.leakwatch.schemas.StackDefinition;
import io.leakwatch.schemas.Topics;
import io.leakwatch.streams.state.LiveAllocation;
import io.leakwatch.streams.state.Outstanding;
import io.leakwatch.streams.state.ProcessState;
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
    AvroSerde.trust(LiveAllocation.class, Outstanding.class, ProcessState.class);
  }

  /** Which store implementation backs the per-process state (persistent RocksDB by default). */
  public enum StoreKind { ROCKSDB, IN_MEMORY }

  private LeakTopology() {}

  public static Topology build() {
    return build(StoreKind.ROCKSDB);
  }

  public static Topology build(StoreKind kind) {
    Serde<String> keys = Serdes.String();
    Topology t = new Topology();
    t.addSource("events", keys.deserializer(), AvroSerde.of(ProcessMessage.class).deserializer(), Topics.EVENTS);
    t.addSource("counters", keys.deserializer(), AvroSerde.of(CounterSample.class).deserializer(), Topics.COUNTERS);
    t.addProcessor("allocation-matcher", AllocationMatcher::new, "events");
    t.addProcessor("counter-recorder", CounterRecorder::new, "counters");
    t.addSink("exit-reports-sink", Topics.EXIT_REPORTS, keys.serializer(), AvroSerde.of(ExitReport.class).serializer(),
        "allocation-matcher");

    t.addStateStore(Stores.keyValueStoreBuilder(supplier(kind, StoreNames.LIVE), keys, AvroSerde.of(LiveAllocation.class)),
        "allocation-matcher");
    t.addStateStore(Stores.keyValueStoreBuilder(supplier(kind, StoreNames.OUTSTANDING), keys, AvroSerde.of(Outstanding.class)),
        "allocation-matcher");
    t.addStateStore(Stores.keyValueStoreBuilder(supplier(kind, StoreNames.PROCESSES), keys, AvroSerde.of(ProcessState.class)),
        "allocation-matcher");
    t.addStateStore(Stores.keyValueStoreBuilder(supplier(kind, StoreNames.EXIT_REPORTS), keys, Serdes.String()),
        "allocation-matcher");
    t.addStateStore(Stores.keyValueStoreBuilder(supplier(kind, StoreNames.COUNTERS), keys, AvroSerde.of(CounterSample.class)),
        "allocation-matcher", "counter-recorder");

    t.addGlobalStore(
        Stores.keyValueStoreBuilder(supplier(kind, StoreNames.STACKS), keys, AvroSerde.of(StackDefinition.class))
            .withLoggingDisabled(),
        "stacks-source", keys.deserializer(), AvroSerde.of(StackDefinition.class).deserializer(), Topics.STACKS,
        "stack-definitions-updater", StackDefinitionUpdater::new);
    return t;
  }

  private static KeyValueBytesStoreSupplier supplier(StoreKind kind, String name) {
    return kind == StoreKind.IN_MEMORY ? Stores.inMemoryKeyValueStore(name) : Stores.persistentKeyValueStore(name);
  }

  /** Keeps the latest counter sample of each process. */
  static final class CounterRecorder implements Processor<String, CounterSample, Void, Void> {
    private KeyValueStore<String, CounterSample> counters;

    @Override
    public void init(ProcessorContext<Void, Void> context) {
      counters = context.getStateStore(StoreNames.COUNTERS);
    }

    @Override
    public void process(Record<String, CounterSample> record) {
      CounterSample c = record.value();
      if (c == null) return;
      counters.put(Keys.process(c.getHost(), c.getPid()), c);
    }
  }

  /** Fills the global stack store from the compacted topic (a tombstone removes a stack). */
  static final class StackDefinitionUpdater implements Processor<String, StackDefinition, Void, Void> {
    private KeyValueStore<String, StackDefinition> stacks;

    @Override
    public void init(ProcessorContext<Void, Void> context) {
      stacks = context.getStateStore(StoreNames.STACKS);
    }

    @Override
    public void process(Record<String, StackDefinition> record) {
      if (record.key() == null) return;
      if (record.value() == null) {
        stacks.delete(record.key());
      } else {
        stacks.put(record.key(), record.value());
      }
    }
  }
}
