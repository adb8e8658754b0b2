package io.leakwatch.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.leakwatch.collector.ShortLivedPairs;
import io.leakwatch.kafka.EmbeddedKafka;
import io.leakwatch.schemas.AllocationEvent;
import io.leakwatch.schemas.AllocationKind;
import io.leakwatch.schemas.AvroSerde;
import io.leakwatch.schemas.EventBatch;
import io.leakwatch.schemas.EventType;
import io.leakwatch.schemas.Frame;
import io.leakwatch.schemas.ProcessMessage;
import io.leakwatch.schemas.ProcessStarted;
import io.leakwatch.schemas.StackDefinition;
import io.leakwatch.schemas.TopicSetup;
import io.leakwatch.schemas.Topics;
import io.leakwatch.streams.StreamsApp;
import io.leakwatch.streams.StreamsAppConfig;
import io.leakwatch.streams.report.Units;
import io.leakwatch.streams.topology.LeakTopology;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.PriorityQueue;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.LongUnaryOperator;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * The streams-app under a simulated fleet: synthetic collectors for {@code --hosts} hosts publish
 * event batches (the collector's record shape) into a real in-process broker, one Streams instance
 * joins them, and probe allocations measure how long an event takes from being produced to being
 * visible through the report API. Workload: a few programs, each with a Zipf-distributed set of
 * stacks and log-normal allocation sizes; most allocations are freed a little later, a small share
 * is never freed (the leaks).
 */
@Command(
    name = "pipeline",
    footer = {
      "",
      "Examples:",
      "  ./leakwatch bench pipeline --events 4000000 --batch 40 --rate 250000",
      "  ./leakwatch bench pipeline --instances 2"
    },
    description = "Streams-app throughput and produce-to-visible latency for a simulated fleet.")
final class PipelineBench implements Callable<Integer> {
  private static final ObjectMapper JSON = new ObjectMapper();

  @Option(
      names = "--hosts",
      defaultValue = "1000",
      description = "simulated hosts (default ${DEFAULT-VALUE})")
  int hosts;

  @Option(
      names = "--processes-per-host",
      defaultValue = "2",
      description = "tracked processes per host (default ${DEFAULT-VALUE})")
  int processesPerHost;

  @Option(
      names = "--events",
      defaultValue = "6000000",
      description = "events to push (default ${DEFAULT-VALUE})")
  long events;

  @Option(
      names = "--batch",
      defaultValue = "500",
      description = "events per record, as a collector batches them (default ${DEFAULT-VALUE})")
  int batch;

  @Option(
      names = "--threads",
      defaultValue = "2",
      description = "stream threads of each instance (default ${DEFAULT-VALUE})")
  int threads;

  @Option(
      names = "--instances",
      defaultValue = "1",
      description =
          "streams-app instances sharing the partitions, in this JVM"
              + " (default ${DEFAULT-VALUE}; on one machine they share its cores: see docs/operations.md for what this measures)")
  int instances;

  @Option(
      names = "--partitions",
      defaultValue = "8",
      description = "partitions of the events topic (default ${DEFAULT-VALUE})")
  int partitions;

  @Option(
      names = "--commit-ms",
      defaultValue = "100",
      description =
          "Kafka Streams commit.interval.ms (default ${DEFAULT-VALUE}, the exactly-once default)")
  long commitMs;

  @Option(
      names = "--store",
      defaultValue = "rocksdb",
      description = "rocksdb or memory (default ${DEFAULT-VALUE})")
  String store;

  @Option(
      names = "--rate",
      defaultValue = "0",
      description =
          "events per second to produce (0: as fast as possible, which measures"
              + " throughput; the latency is then mostly the backlog)")
  long rate;

  @Option(
      names = "--lifetimes",
      defaultValue = "realistic",
      description =
          "realistic (default: most blocks freed within milliseconds, some within seconds, 2%% never) or"
              + " pessimistic (frees of random older blocks, mostly in a later batch)")
  String lifetimes;

  @Option(
      names = "--pair-grace-ms",
      defaultValue = "1000",
      paramLabel = "MS",
      description =
          "the collector's grace period: allocations freed within it are dropped with their free before"
              + " Kafka, by the collector's own code (default ${DEFAULT-VALUE}; 0 publishes every event)")
  long pairGraceMs;

  @Option(
      names = "--generate",
      defaultValue = "ahead",
      paramLabel = "WHEN",
      description =
          "ahead (default: the collectors' records are made through their own code before the clock"
              + " starts, as a fleet's collectors run on their own hosts; the events' clock runs at"
              + " --rate, or at 250,000 events/s flat out) or inline (made while the pipeline runs, on"
              + " the same cores as the broker and the streams-app)")
  String generate;

  /** The events' clock when records are made ahead and no --rate is given: the target's rate. */
  static final long AHEAD_CLOCK_EVENTS_PER_S = 250_000;

  /** A record as a collector publishes it, made ahead: when (on the events' clock) and what. */
  private record Outgoing(long offsetNs, long shimEventsSoFar, String key, byte[] value) {}

  /** Where the simulated collectors' records go: to the broker now, or into a list for later. */
  private interface RecordSink {
    void accept(long offsetNs, long shimEventsSoFar, String key, byte[] value) throws Exception;
  }

  /** Pairs the simulated collectors dropped, over the run. */
  private final LongAdder pairsDropped = new LongAdder();

  private static final int PROGRAMS = 5;
  private static final int STACKS_PER_PROGRAM = 2000;

  @Override
  public Integer call() throws Exception {
    if (!lifetimes.equals("realistic") && !lifetimes.equals("pessimistic")) {
      System.err.println("leakwatch bench pipeline: --lifetimes must be realistic or pessimistic");
      return 2;
    }
    if (!generate.equals("ahead") && !generate.equals("inline")) {
      System.err.println("leakwatch bench pipeline: --generate must be ahead or inline");
      return 2;
    }
    Path work = Files.createTempDirectory("leakwatch-bench-pipeline-");
    try (EmbeddedKafka kafka =
        EmbeddedKafka.start(
            work.resolve("kafka"),
            0,
            true,
            Map.of("num.partitions", Integer.toString(partitions)))) {
      TopicSetup.ensureTopics(
          Map.of("bootstrap.servers", kafka.bootstrapServers()), partitions, (short) 1);
      StreamsAppConfig sc =
          StreamsAppConfig.defaults(kafka.bootstrapServers(), work.resolve("streams"))
              .withHttpPort(0)
              .withThreads(threads)
              .withKafka(Map.of("commit.interval.ms", Long.toString(commitMs)))
              .withStoreKind(
                  store.equals("memory")
                      ? LeakTopology.StoreKind.IN_MEMORY
                      : LeakTopology.StoreKind.ROCKSDB);
      List<StreamsApp> apps = new ArrayList<>();
      for (int i = 1; i < instances; i++) {
        // the others first, so the measured one (whose API the probes use) joins a group already
        // formed
        apps.add(
            new StreamsApp(
                    sc.withHttpPort(0)
                        .withKafka(Map.of("state.dir", work.resolve("streams-" + i).toString())))
                .start(Duration.ofMinutes(2)));
      }
      try (StreamsApp app = new StreamsApp(sc).start(Duration.ofMinutes(2));
          AutoCloseable others = () -> apps.forEach(StreamsApp::close);
          KafkaProducer<String, byte[]> producer =
              new KafkaProducer<>(
                  Map.of(
                      "bootstrap.servers",
                      kafka.bootstrapServers(),
                      "linger.ms",
                      5,
                      "batch.size",
                      512 * 1024,
                      "compression.type",
                      "lz4",
                      "acks",
                      "all",
                      "enable.idempotence",
                      true,
                      "max.request.size",
                      8 * 1024 * 1024),
                  new StringSerializer(),
                  new ByteArraySerializer())) {
        AvroSerde<ProcessMessage> messages = AvroSerde.of(ProcessMessage.class);
        AvroSerde<StackDefinition> stackSerde = AvroSerde.of(StackDefinition.class);
        int port = app.httpPort();
        // Stack definitions: what collectors publish once per stack.
        for (int p = 0; p < PROGRAMS; p++) {
          for (int s = 0; s < STACKS_PER_PROGRAM; s++) {
            long id = stackId(p, s);
            StackDefinition d =
                StackDefinition.newBuilder()
                    .setId(Topics.stackIdHex(id))
                    .setAllocator("lib" + p + ".so")
                    .setCulprit("program" + p + "!caller_" + s + "+0x10")
                    .setFrames(
                        List.of(
                            Frame.newBuilder()
                                .setModule("lib" + p + ".so")
                                .setFunction("alloc_" + s)
                                .setOffset(16)
                                .setModuleOffset(4096 + s)
                                .build(),
                            Frame.newBuilder()
                                .setModule("program" + p)
                                .setFunction("caller_" + s)
                                .setOffset(16)
                                .setModuleOffset(8192 + s)
                                .build()))
                    .build();
            producer.send(
                new ProducerRecord<>(
                    Topics.STACKS, d.getId(), stackSerde.serialize(Topics.STACKS, d)));
          }
        }
        int processes = hosts * processesPerHost;
        Sim[] sims = new Sim[processes];
        for (int i = 0; i < processes; i++) {
          sims[i] =
              new Sim(
                  "host-" + (i / processesPerHost),
                  1000 + i % processesPerHost,
                  i % PROGRAMS,
                  new SplittableRandom(i));
          sims[i].realistic = lifetimes.equals("realistic");
          sims[i].pairs = new ShortLivedPairs(pairGraceMs * 1_000_000L, pairsDropped);
          producer.send(
              new ProducerRecord<>(
                  Topics.EVENTS,
                  sims[i].key(),
                  messages.serialize(
                      Topics.EVENTS,
                      sims[i].message(
                          ProcessStarted.newBuilder()
                              .setName("program" + sims[i].program)
                              .setCommand("program" + sims[i].program)
                              .setPpid(1)
                              .setStartedAtMs(System.currentTimeMillis())
                              .setSampleBytes(0)
                              .build()))));
        }
        // Probe processes, one per partition's worth of keys: their single allocations are timed.
        Sim[] probes = new Sim[partitions * 2];
        for (int i = 0; i < probes.length; i++) {
          probes[i] = new Sim("probe-" + i, 1, 0, new SplittableRandom(-i));
          producer.send(
              new ProducerRecord<>(
                  Topics.EVENTS,
                  probes[i].key(),
                  messages.serialize(
                      Topics.EVENTS,
                      probes[i].message(
                          ProcessStarted.newBuilder()
                              .setName("probe")
                              .setCommand("probe")
                              .setPpid(1)
                              .setStartedAtMs(System.currentTimeMillis())
                              .setSampleBytes(0)
                              .build()))));
        }
        producer.flush();
        awaitProcesses(port, processes + probes.length, instances > 1);

        AtomicBoolean loading = new AtomicBoolean(true);
        List<Long> latencies = Collections.synchronizedList(new ArrayList<>());
        Thread prober =
            new Thread(
                () ->
                    probe(
                        pairGraceMs,
                        port,
                        instances > 1,
                        producer,
                        messages,
                        probes,
                        loading,
                        latencies),
                "probe");
        long sent;
        long t0;
        if (generate.equals("ahead")) {
          List<Outgoing> records = new ArrayList<>();
          long clockRate = rate > 0 ? rate : AHEAD_CLOCK_EVENTS_PER_S;
          long base = System.nanoTime();
          sent =
              generate(
                  sims,
                  n -> base + (long) (n * 1e9 / clockRate),
                  base,
                  messages,
                  (offset, soFar, key, value) ->
                      records.add(new Outgoing(offset, soFar, key, value)));
          System.err.printf(
              Locale.ROOT,
              "bench pipeline: the collectors' %,d records (%,d shim events, %s on the events' clock"
                  + " at %,d events/s) made ahead in %s%n",
              records.size(),
              sent,
              Units.duration(sent / (double) clockRate),
              clockRate,
              Units.duration((System.nanoTime() - base) / 1e9));
          t0 = System.nanoTime();
          prober.start();
          Progress progress = new Progress(t0, events);
          for (Outgoing o : records) {
            progress.maybeSay(o.shimEventsSoFar());
            if (rate > 0) pace(t0 + o.offsetNs());
            producer.send(new ProducerRecord<>(Topics.EVENTS, o.key(), o.value()));
          }
        } else {
          t0 = System.nanoTime();
          long start = t0;
          prober.start();
          Progress progress = new Progress(t0, events);
          sent =
              generate(
                  sims,
                  n -> System.nanoTime(),
                  t0,
                  messages,
                  (offset, soFar, key, value) -> {
                    progress.maybeSay(soFar);
                    producer.send(new ProducerRecord<>(Topics.EVENTS, key, value));
                    if (rate > 0) pace(start + (long) (soFar * 1e9 / rate));
                  });
        }
        producer.flush();
        double produceSeconds = (System.nanoTime() - t0) / 1e9;
        // Everything is processed when the last batch of every process is: its sequence is the
        // process's last.
        apps.add(0, app);
        awaitSequences(apps, sims);
        double seconds = (System.nanoTime() - t0) / 1e9;
        loading.set(false);
        prober.join();
        long[] l = latencies.stream().mapToLong(Long::longValue).sorted().toArray();
        long p50 = l.length == 0 ? -1 : l[(int) Math.floor(0.50 * (l.length - 1))];
        long p99 = l.length == 0 ? -1 : l[(int) Math.ceil(0.99 * (l.length - 1))];
        System.out.printf(
            Locale.ROOT,
            "fleet: %d hosts, %d processes, %d programs x %d stacks, batches of %d events, %d partitions,"
                + " %d instance(s) x %d stream thread(s), %s stores, commit every %d ms; produced %s in %.1f s; %d probes, p50 %d ms, max %d ms%n",
            hosts,
            processes,
            PROGRAMS,
            STACKS_PER_PROGRAM,
            batch,
            partitions,
            instances,
            threads,
            store,
            commitMs,
            rate > 0 ? "at " + rate + " events/s" : "as fast as possible",
            produceSeconds,
            l.length,
            p50,
            l.length == 0 ? -1 : l[l.length - 1]);
        long published = 0;
        for (Sim s : sims) published += s.published;
        System.out.printf(
            Locale.ROOT,
            "collectors (records made %s): %s lifetimes, grace %d ms: %d shim events, %d pairs dropped, %d events published (%.1f%%)%n",
            generate,
            lifetimes,
            pairGraceMs,
            sent,
            pairsDropped.sum(),
            published,
            sent == 0 ? 0 : 100.0 * published / sent);
        System.out.printf(
            Locale.ROOT,
            "pipeline: events=%d seconds=%.1f events_per_s=%.0f p99_visible_ms=%d%n",
            sent,
            seconds,
            sent / seconds,
            p99);
      }
    } finally {
      LocalStack.delete(work);
    }
    return 0;
  }

  /**
   * The simulated collectors' polls, round robin over the processes, until {@code events} shim
   * events: each poll's record (if it holds anything after the pairing) goes to {@code sink}, then
   * the processes exit and what their collectors still hold goes too. {@code clock} gives the time
   * (System.nanoTime's scale) after n shim events; {@code base} is that clock's start. Returns the
   * shim events made.
   */
  private long generate(
      Sim[] sims,
      LongUnaryOperator clock,
      long base,
      AvroSerde<ProcessMessage> messages,
      RecordSink sink)
      throws Exception {
    long epochBase = System.currentTimeMillis() * 1_000_000L;
    long sent = 0;
    int next = 0;
    while (sent < events) {
      Sim s = sims[next];
      next = (next + 1) % sims.length;
      long now = clock.applyAsLong(sent);
      long before = s.shimEvents;
      EventBatch b = s.batch(batch, now, epochBase + (now - base));
      sent += s.shimEvents - before;
      if (!b.getEvents().isEmpty())
        sink.accept(now - base, sent, s.key(), messages.serialize(Topics.EVENTS, s.message(b)));
    }
    long end = clock.applyAsLong(sent) - base;
    for (Sim s : sims) {
      EventBatch b = s.flush();
      if (!b.getEvents().isEmpty())
        sink.accept(end, sent, s.key(), messages.serialize(Topics.EVENTS, s.message(b)));
    }
    return sent;
  }

  /** Sleeps until System.nanoTime() reaches {@code dueNs} (to the millisecond). */
  private static void pace(long dueNs) throws InterruptedException {
    long wait = dueNs - System.nanoTime();
    if (wait > 1_000_000) Thread.sleep(wait / 1_000_000);
  }

  /** "N of M shim events sent", every 5 s. */
  private static final class Progress {
    private final long t0;
    private final long total;
    private long said;

    Progress(long t0, long total) {
      this.t0 = t0;
      this.total = total;
      this.said = t0;
    }

    void maybeSay(long sent) {
      if (System.nanoTime() - said <= 5_000_000_000L) return;
      said = System.nanoTime();
      System.err.printf(
          Locale.ROOT,
          "bench pipeline: %,d of %,d shim events sent (%s)%n",
          sent,
          total,
          Units.duration((said - t0) / 1e9));
    }
  }

  private static long stackId(int program, int stack) {
    return 0x5000_0000_0000L + program * 1_000_000L + stack;
  }

  /** One simulated process: its sequence numbers, its live addresses, its program's stacks. */
  private static final class Sim {
    final String host;
    final int pid;
    final int program;
    final SplittableRandom rnd;
    long seq = 64;
    long lastEventSeq = -1;
    long nextAddress = 0x10_0000;
    long[] live = new long[4096];
    int liveCount;

    /** The collector's holding of short-lived pairs, as the daemon runs it for each process. */
    ShortLivedPairs pairs = new ShortLivedPairs(0, new LongAdder());

    boolean realistic;

    /** Realistic lifetimes: frees to come, by due time (ns) then address. */
    final PriorityQueue<long[]> due = new PriorityQueue<>((x, y) -> Long.compare(x[0], y[0]));

    long shimEvents;
    long published;

    Sim(String host, int pid, int program, SplittableRandom rnd) {
      this.host = host;
      this.pid = pid;
      this.program = program;
      this.rnd = rnd;
    }

    /** A block's life: 80% a few milliseconds, 15% up to 3 s, 3% up to 30 s, 2% never (-1). */
    long lifetimeNs() {
      int r = rnd.nextInt(100);
      if (r < 80) return 1_000_000L + rnd.nextLong(20_000_000L);
      if (r < 95) return 100_000_000L + rnd.nextLong(2_900_000_000L);
      if (r < 98) return 5_000_000_000L + rnd.nextLong(25_000_000_000L);
      return -1;
    }

    String key() {
      return Topics.processKey(host, pid);
    }

    ProcessMessage message(Object body) {
      return ProcessMessage.newBuilder()
          .setHost(host)
          .setPid(pid)
          .setProcessStartTicks(5)
          .setBody(body)
          .build();
    }

    /** Zipf-like: a few stacks allocate most (rank r with weight 1/r). */
    long stack() {
      double u = rnd.nextDouble();
      int r =
          (int) Math.floor(Math.pow(STACKS_PER_PROGRAM + 1, u))
              - 1; // log-uniform rank: density ~ 1/r
      return stackId(program, Math.min(STACKS_PER_PROGRAM - 1, Math.max(0, r)));
    }

    /** Log-normal sizes around 64 bytes, a long tail to 64 KiB. */
    long size() {
      double z = rnd.nextDouble() + rnd.nextDouble() + rnd.nextDouble() - 1.5; // roughly normal
      return Math.max(8, Math.min(65536, Math.round(Math.exp(4.2 + 1.6 * z * 1.4))));
    }

    /**
     * One poll of this process at {@code nowNs} (System.nanoTime's scale; {@code epochNs} the same
     * instant since the epoch): {@code n} events at the shim, through the collector's holding of
     * short-lived pairs; the batch holds what is published now (perhaps nothing).
     */
    EventBatch batch(int n, long nowNs, long epochNs) {
      long first = seq;
      List<AllocationEvent> ev = new ArrayList<>(n);
      long now = epochNs;
      for (int i = 0; i < n; i++) {
        long freeAddress = -1;
        if (realistic) {
          if (!due.isEmpty() && due.peek()[0] <= nowNs) freeAddress = due.poll()[1];
        } else if (liveCount > 0 && (rnd.nextInt(100) < 48 || liveCount == live.length)) {
          // Free about half the time while blocks are live; 2% of allocations are leaks.
          int k = rnd.nextInt(liveCount);
          freeAddress = live[k];
          live[k] = live[--liveCount];
        }
        if (freeAddress >= 0) {
          ev.add(
              AllocationEvent.newBuilder()
                  .setSeq(seq)
                  .setType(EventType.FREE)
                  .setKind(AllocationKind.HEAP)
                  .setAddress(freeAddress)
                  .setSize(0)
                  .setWeight(0)
                  .setTimestampNs(0)
                  .setStackId(0)
                  .build());
          seq += 24;
        } else {
          long a = nextAddress;
          nextAddress += 0x40;
          long size = size();
          ev.add(
              AllocationEvent.newBuilder()
                  .setSeq(seq)
                  .setType(EventType.ALLOC)
                  .setKind(AllocationKind.HEAP)
                  .setAddress(a)
                  .setSize(size)
                  .setWeight(size)
                  .setTimestampNs(now)
                  .setStackId(stack())
                  .build());
          seq += 64;
          if (realistic) {
            long life = lifetimeNs();
            if (life >= 0) due.add(new long[] {nowNs + life, a});
          } else if (rnd.nextInt(100) >= 2) {
            live[liveCount++] = a;
          }
        }
      }
      shimEvents += ev.size();
      List<AllocationEvent> out = new ArrayList<>();
      for (AllocationEvent e : ev) pairs.add(e, nowNs);
      pairs.releaseDue(nowNs, out);
      return published(first, out);
    }

    /** Everything still held (the end of the run: the process exits). */
    EventBatch flush() {
      List<AllocationEvent> out = new ArrayList<>();
      pairs.releaseAll(out);
      return published(seq, out);
    }

    private EventBatch published(long first, List<AllocationEvent> out) {
      published += out.size();
      if (!out.isEmpty()) lastEventSeq = out.get(out.size() - 1).getSeq();
      return EventBatch.newBuilder()
          .setFirstSeq(first)
          .setEndSeq(seq)
          .setLostEvents(0)
          .setEvents(out)
          .build();
    }
  }

  private static void probe(
      long graceMs,
      int port,
      boolean forwarded,
      KafkaProducer<String, byte[]> producer,
      AvroSerde<ProcessMessage> messages,
      Sim[] probes,
      AtomicBoolean loading,
      List<Long> latencies) {
    HttpClient http = HttpClient.newHttpClient();
    long[] count = new long[probes.length];
    int i = 0;
    while (loading.get()) {
      Sim p = probes[i % probes.length];
      int idx = i % probes.length;
      i++;
      EventBatch b =
          EventBatch.newBuilder()
              .setFirstSeq(p.seq)
              .setEndSeq(p.seq + 64)
              .setLostEvents(0)
              .setEvents(
                  List.of(
                      AllocationEvent.newBuilder()
                          .setSeq(p.seq)
                          .setType(EventType.ALLOC)
                          .setKind(AllocationKind.HEAP)
                          .setAddress(p.nextAddress)
                          .setSize(100)
                          .setWeight(100)
                          .setTimestampNs(System.currentTimeMillis() * 1_000_000L)
                          .setStackId(stackId(0, 0))
                          .build()))
              .build();
      p.seq += 64;
      p.nextAddress += 0x40;
      long t0 = System.nanoTime();
      // A collector holds every event for its grace period before publishing: so does the probe,
      // and
      // the visibility it measures includes it.
      try {
        Thread.sleep(graceMs);
      } catch (InterruptedException e) {
        return;
      }
      producer.send(
          new ProducerRecord<>(
              Topics.EVENTS, p.key(), messages.serialize(Topics.EVENTS, p.message(b))));
      long want = ++count[idx];
      long deadline = t0 + 120_000_000_000L;
      while (System.nanoTime() < deadline) {
        try {
          HttpResponse<String> r =
              http.send(
                  HttpRequest.newBuilder(
                          URI.create(
                              "http://127.0.0.1:"
                                  + port
                                  + "/api/report?host="
                                  + p.host
                                  + "&pid="
                                  + p.pid
                                  + (forwarded ? "" : "&local=true")))
                      .build(),
                  HttpResponse.BodyHandlers.ofString());
          if (r.statusCode() == 200
              && JSON.readTree(r.body()).path("outstanding").path("allocations").asLong() >= want) {
            latencies.add((System.nanoTime() - t0) / 1_000_000);
            break;
          }
        } catch (Exception e) {
          // store rebalancing: ask again
        }
        try {
          Thread.sleep(10);
        } catch (InterruptedException e) {
          return;
        }
      }
      try {
        Thread.sleep(100);
      } catch (InterruptedException e) {
        return;
      }
    }
  }

  /**
   * Waits until n processes are announced: on this instance, or (fleetWide) on every instance
   * together.
   */
  private static void awaitProcesses(int port, int n, boolean fleetWide) throws Exception {
    HttpClient http = HttpClient.newHttpClient();
    long deadline = System.currentTimeMillis() + 300_000;
    while (System.currentTimeMillis() < deadline) {
      HttpResponse<String> r =
          http.send(
              HttpRequest.newBuilder(
                      URI.create(
                          "http://127.0.0.1:"
                              + port
                              + "/api/processes"
                              + (fleetWide ? "" : "?local=true")))
                  .build(),
              HttpResponse.BodyHandlers.ofString());
      if (r.statusCode() == 200) {
        JsonNode a = JSON.readTree(r.body());
        if (a.size() >= n) return;
      }
      Thread.sleep(500);
    }
    throw new IllegalStateException("processes not all announced");
  }

  /** Waits until the instance that owns each simulated process has applied its last batch. */
  private static void awaitSequences(List<StreamsApp> apps, Sim[] sims) throws Exception {
    long deadline = System.currentTimeMillis() + 1_800_000;
    long start = System.nanoTime(), said = start;
    int i = 0;
    while (i < sims.length) {
      if (System.nanoTime() - said > 5_000_000_000L) {
        said = System.nanoTime();
        System.err.printf(
            Locale.ROOT,
            "bench pipeline: waiting for the streams-app to apply everything: %,d of %,d processes done (%s)%n",
            i,
            sims.length,
            Units.duration((said - start) / 1e9));
      }
      if (System.currentTimeMillis() > deadline)
        throw new IllegalStateException("pipeline did not drain");
      long applied = -1;
      for (StreamsApp app : apps) {
        try {
          applied = Math.max(applied, app.reports().lastSeq(sims[i].host, sims[i].pid));
        } catch (RuntimeException e) {
          // not this instance's, or its store is moving
        }
      }
      if (applied >= sims[i].lastEventSeq) {
        i++;
      } else {
        Thread.sleep(20);
      }
    }
  }
}
