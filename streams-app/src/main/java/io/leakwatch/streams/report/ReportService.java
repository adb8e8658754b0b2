package io.leakwatch.streams.report;

import com.fasterxml.jackson.core.JsonProcessingException;
import io.leakwatch.schemas.CounterSample;
import io.leakwatch.schemas.StackDefinition;
import io.leakwatch.streams.report.model.ProcessReport;
import io.leakwatch.streams.report.model.ProcessSummary;
import io.leakwatch.streams.report.model.ReportJson;
import io.leakwatch.streams.report.model.ReportSnapshot;
import io.leakwatch.streams.score.StackAges;
import io.leakwatch.streams.state.LiveAllocation;
import io.leakwatch.streams.state.Outstanding;
import io.leakwatch.streams.state.ProcessState;
import io.leakwatch.streams.state.StackTrend;
import io.leakwatch.streams.stores.Keys;
import io.leakwatch.streams.stores.StackNames;
import io.leakwatch.streams.stores.StoreNames;
import io.leakwatch.streams.topology.TopologyOptions;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Consumer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StoreQueryParameters;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.QueryableStoreTypes;
import org.apache.kafka.streams.state.ReadOnlyKeyValueStore;

/**
 * Answers report questions from this instance's state stores (interactive queries). A store that is
 * being restored or rebalanced throws {@link
 * org.apache.kafka.streams.errors.InvalidStateStoreException}, which the HTTP layer turns into 503
 * "try again".
 */
public final class ReportService {
  private static final StringSerializer KEYS = new StringSerializer();
  private final KafkaStreams streams;

  private long trendWindowMs = TopologyOptions.DEFAULT_TREND_WINDOW_MS;

  /**
   * The window length the topology's trends were built with (the report closes windows up to now
   * with it).
   */
  public ReportService withTrendWindowMs(long ms) {
    this.trendWindowMs = ms;
    return this;
  }

  public ReportService(KafkaStreams streams) {
    this(streams, new StackNames());
  }

  /**
   * @param names the cache of stacks' names that the topology's stack updater keeps current
   */
  public ReportService(KafkaStreams streams, StackNames names) {
    this.streams = streams;
    this.names = names;
  }

  private final StackNames names;

  /** The allocator a stack is counted under (see {@link ReportBuilder#allocatorOf}). */
  public String allocatorOf(String id) {
    if (ReportBuilder.LOST_STACK.equals(id)) return "[lost]";
    StackNames.Names n = names.get(id, this::stack);
    return n == null ? "[unresolved]" : n.allocator();
  }

  /** The culprit frame a stack is labelled with: "[lost]" or "[unresolved]" when it has none. */
  public String culpritOf(String id) {
    if (ReportBuilder.LOST_STACK.equals(id)) return "[lost]";
    StackNames.Names n = names.get(id, this::stack);
    return n == null ? "[unresolved]" : n.culprit();
  }

  private <V> ReadOnlyKeyValueStore<String, V> store(String name) {
    return streams.store(
        StoreQueryParameters.fromNameAndType(name, QueryableStoreTypes.<String, V>keyValueStore()));
  }

  public StackDefinition stack(String id) {
    return this.<StackDefinition>store(StoreNames.STACKS).get(id);
  }

  /** The report of one process: live while it runs, what it held at exit afterwards. */
  public Optional<ProcessReport> report(String host, int pid) {
    String pk = Keys.process(host, pid);
    ProcessState st = this.<ProcessState>store(StoreNames.PROCESSES).get(pk);
    if (st == null) return Optional.empty();
    if (st.getExited()) {
      String snapshot = this.<String>store(StoreNames.EXIT_REPORTS).get(pk);
      return snapshot == null
          ? Optional.empty()
          : Optional.of(ReportBuilder.render(snapshot, this::stack));
    }
    return Optional.of(ReportBuilder.render(liveSnapshot(st, pk), this::stack));
  }

  /** The highest event sequence applied for a process (-1 when unknown here). */
  public long lastSeq(String host, int pid) {
    ProcessState st = this.<ProcessState>store(StoreNames.PROCESSES).get(Keys.process(host, pid));
    return st == null ? -1 : st.getLastSeq();
  }

  /** The exit report of a process, once its exit has been processed. */
  public Optional<ProcessReport> exitReport(String host, int pid) {
    String snapshot = this.<String>store(StoreNames.EXIT_REPORTS).get(Keys.process(host, pid));
    return snapshot == null
        ? Optional.empty()
        : Optional.of(ReportBuilder.render(snapshot, this::stack));
  }

  /**
   * Among process entries (as {@link #processes} lists them, from one instance or merged from all):
   * the largest live process of that name (on that host, if given), else the latest to exit.
   */
  public static Optional<ProcessSummary> largestByName(
      List<ProcessSummary> processes, String host, String name) {
    return processes.stream()
        .filter(p -> p.name().equals(name) && (host == null || p.host().equals(host)))
        .max(
            Comparator.comparing((ProcessSummary p) -> !p.exited())
                .thenComparingLong(p -> p.exited() ? p.exitedAtMs() : p.outstandingBytes()));
  }

  ReportSnapshot liveSnapshot(ProcessState st, String pk) {
    List<KeyValue<String, Outstanding>> rows = new ArrayList<>();
    forEachOutstanding(pk, rows::add);
    long now = System.currentTimeMillis();
    Map<Long, StackTrend> trends = new HashMap<>();
    StackAges ages;
    try (KeyValueIterator<String, StackTrend> t =
            this.<StackTrend>store(StoreNames.TRENDS).prefixScan(Keys.prefix(pk), KEYS);
        KeyValueIterator<String, LiveAllocation> l =
            this.<LiveAllocation>store(StoreNames.LIVE).prefixScan(Keys.prefix(pk), KEYS)) {
      ages = StackAges.scan(t, l, now, trendWindowMs, trends);
    }
    CounterSample counters = this.<CounterSample>store(StoreNames.COUNTERS).get(pk);
    return ReportBuilder.snapshot(st, rows, ages, trends, counters, now, this::allocatorOf);
  }

  public void forEachOutstanding(String pk, Consumer<KeyValue<String, Outstanding>> sink) {
    try (KeyValueIterator<String, Outstanding> it =
        this.<Outstanding>store(StoreNames.OUTSTANDING).prefixScan(Keys.prefix(pk), KEYS)) {
      it.forEachRemaining(sink);
    }
  }

  /**
   * Every process this instance holds state for, with its outstanding total: kept in its state, or
   * (a state from before totals were kept) summed from its rows or read from its exit snapshot.
   */
  public List<ProcessSummary> processes() {
    List<ProcessSummary> out = new ArrayList<>();
    ReadOnlyKeyValueStore<String, String> exits = store(StoreNames.EXIT_REPORTS);
    try (KeyValueIterator<String, ProcessState> it =
        this.<ProcessState>store(StoreNames.PROCESSES).all()) {
      while (it.hasNext()) {
        KeyValue<String, ProcessState> kv = it.next();
        ProcessState st = kv.value;
        long bytes = 0;
        if (st.getTotalsKept()) {
          bytes = Math.round(st.getOutstandingBytes());
        } else if (st.getExited()) {
          String snap = exits.get(kv.key);
          if (snap != null) {
            try {
              bytes = ReportJson.MAPPER.readTree(snap).path("outstanding").path("bytes").asLong();
            } catch (JsonProcessingException e) {
              bytes = 0;
            }
          }
        } else {
          double[] sum = new double[1];
          forEachOutstanding(kv.key, r -> sum[0] += r.value.getBytes());
          bytes = Math.round(sum[0]);
        }
        out.add(
            new ProcessSummary(
                st.getHost(),
                st.getPid(),
                st.getName(),
                st.getExited(),
                st.getExitedAtMs(),
                st.getSampleBytes() == 0 ? "exact" : "sampled",
                st.getLostEvents(),
                bytes));
      }
    }
    out.sort(Comparator.comparingLong((ProcessSummary p) -> -p.outstandingBytes()));
    return out;
  }

  /** Live (not exited) process states of this instance. */
  public List<KeyValue<String, ProcessState>> liveProcesses() {
    List<KeyValue<String, ProcessState>> out = new ArrayList<>();
    try (KeyValueIterator<String, ProcessState> it =
        this.<ProcessState>store(StoreNames.PROCESSES).all()) {
      it.forEachRemaining(
          kv -> {
            if (!kv.value.getExited()) out.add(kv);
          });
    }
    return out;
  }

  public CounterSample counters(String pk) {
    return this.<CounterSample>store(StoreNames.COUNTERS).get(pk);
  }
}
