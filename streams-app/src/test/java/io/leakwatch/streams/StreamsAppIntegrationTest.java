package io.leakwatch.streams;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.leakwatch.kafka.KafkaFixture;
import io.leakwatch.schemas.AllocationEvent;
import io.leakwatch.schemas.AllocationKind;
import io.leakwatch.schemas.AvroSerde;
import io.leakwatch.schemas.CounterSample;
import io.leakwatch.schemas.EventBatch;
import io.leakwatch.schemas.EventType;
import io.leakwatch.schemas.Frame;
import io.leakwatch.schemas.ProcessExited;
import io.leakwatch.schemas.ProcessMessage;
import io.leakwatch.schemas.ProcessStarted;
import io.leakwatch.schemas.StackDefinition;
import io.leakwatch.schemas.Topics;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The streams-app against a real broker: records in, /metrics and the report API out. */
class StreamsAppIntegrationTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final HttpClient HTTP = HttpClient.newHttpClient();
  private static KafkaFixture kafka;
  private static StreamsApp app;
  private static KafkaProducer<String, byte[]> producer;
  private static Path stateDir;

  @BeforeAll
  static void start() throws Exception {
    kafka = KafkaFixture.start();
    stateDir = Files.createTempDirectory("streams-it");
    StreamsAppConfig config =
        StreamsAppConfig.defaults(kafka.bootstrapServers(), stateDir).withHttpPort(0);
    app = new StreamsApp(config).start(Duration.ofMinutes(2));
    producer =
        new KafkaProducer<>(
            Map.of(
                "bootstrap.servers",
                kafka.bootstrapServers(),
                "enable.idempotence",
                true,
                "acks",
                "all"),
            new StringSerializer(),
            new ByteArraySerializer());
  }

  @AfterAll
  static void stop() {
    producer.close();
    app.close();
    kafka.close();
  }

  private static void send(String topic, String key, byte[] value) throws Exception {
    producer.send(new ProducerRecord<>(topic, key, value)).get();
  }

  private static void sendMessage(String host, int pid, Object body) throws Exception {
    ProcessMessage m =
        ProcessMessage.newBuilder()
            .setHost(host)
            .setPid(pid)
            .setProcessStartTicks(5)
            .setBody(body)
            .build();
    send(
        Topics.EVENTS,
        Topics.processKey(host, pid),
        AvroSerde.of(ProcessMessage.class).serialize(Topics.EVENTS, m));
  }

  private static HttpResponse<String> get(String path) throws Exception {
    return HTTP.send(
        HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + app.httpPort() + path)).build(),
        HttpResponse.BodyHandlers.ofString());
  }

  /** Requests a client library refuses to send (malformed escapes), over a plain socket. */
  private static String rawStatusLine(String target) throws Exception {
    try (java.net.Socket s = new java.net.Socket("127.0.0.1", app.httpPort())) {
      s.getOutputStream()
          .write(
              ("GET " + target + " HTTP/1.0\r\nHost: x\r\n\r\n")
                  .getBytes(java.nio.charset.StandardCharsets.US_ASCII));
      return new java.io.BufferedReader(new java.io.InputStreamReader(s.getInputStream()))
          .readLine();
    }
  }

  private static String await(String path, Predicate<String> ok) throws Exception {
    long deadline = System.currentTimeMillis() + 60_000;
    String last = null;
    while (System.currentTimeMillis() < deadline) {
      HttpResponse<String> r = get(path);
      last = r.statusCode() + " " + r.body();
      if (r.statusCode() == 200 && ok.test(r.body())) return r.body();
      Thread.sleep(200);
    }
    throw new AssertionError("timed out waiting on " + path + "; last answer: " + last);
  }

  private static AllocationEvent event(
      long seq, EventType type, long address, long size, long stack) {
    return AllocationEvent.newBuilder()
        .setSeq(seq)
        .setType(type)
        .setKind(AllocationKind.HEAP)
        .setAddress(address)
        .setSize(size)
        .setWeight(size)
        .setTimestampNs(System.currentTimeMillis() * 1_000_000L)
        .setStackId(stack)
        .build();
  }

  @Test
  void aRestoredStacksStoreKeepsTheRicherDefinitionWhateverCameLast() throws Exception {
    Frame plain =
        Frame.newBuilder()
            .setModule("svc")
            .setFunction("open_session")
            .setOffset(0x10)
            .setModuleOffset(0x3010)
            .build();
    StackDefinition withoutLines =
        StackDefinition.newBuilder()
            .setId("00000000restored")
            .setAllocator("svc")
            .setCulprit("svc!open_session+0x10")
            .setFrames(List.of(plain))
            .build();
    StackDefinition withLines =
        StackDefinition.newBuilder(withoutLines)
            .setFrames(List.of(Frame.newBuilder(plain).setFile("svc.c").setLine(21).build()))
            .build();
    // The collector that resolved lines, then one (restarted, or on a host without the debug
    // file) that sent the plain definition again: the compacted topic's latest is the poorer one.
    AvroSerde<StackDefinition> serde = AvroSerde.of(StackDefinition.class);
    send(Topics.STACKS, withLines.getId(), serde.serialize(Topics.STACKS, withLines));
    send(Topics.STACKS, withoutLines.getId(), serde.serialize(Topics.STACKS, withoutLines));

    // A new instance builds its global store from the topic (a restore): the same rule applies.
    Path fresh = Files.createTempDirectory("streams-it-restore");
    try (StreamsApp second =
        new StreamsApp(
                StreamsAppConfig.defaults(kafka.bootstrapServers(), fresh)
                    .withHttpPort(0)
                    .withApplicationId("leakwatch-restore-check"))
            .start(Duration.ofMinutes(2))) {
      StackDefinition restored = null;
      long deadline = System.currentTimeMillis() + 60_000;
      while (restored == null && System.currentTimeMillis() < deadline) {
        try {
          restored = second.reports().stack(withLines.getId());
        } catch (RuntimeException e) {
          // the store is not queryable yet
        }
        Thread.sleep(100);
      }
      assertThat(restored).isNotNull();
      assertThat(restored.getFrames().get(0).getLine()).isEqualTo(21);
    }
    assertThat(app.reports().stack(withLines.getId()).getFrames().get(0).getLine()).isEqualTo(21);
  }

  @Test
  void eventsBecomeMetricsAndAReport() throws Exception {
    long stack = 0x0123456789abcdefL;
    StackDefinition def =
        StackDefinition.newBuilder()
            .setId(Topics.stackIdHex(stack))
            .setAllocator("libtoykey.so")
            .setCulprit("svc!verify_signature+0x1c")
            .setFrames(
                List.of(
                    Frame.newBuilder()
                        .setModule("libtoykey.so")
                        .setFunction("cont_alloc")
                        .setOffset(0x11)
                        .setModuleOffset(0x1131)
                        .build(),
                    Frame.newBuilder()
                        .setModule("svc")
                        .setFunction("verify_signature")
                        .setOffset(0x1c)
                        .setModuleOffset(0x2000)
                        .build()))
            .build();
    send(
        Topics.STACKS,
        def.getId(),
        AvroSerde.of(StackDefinition.class).serialize(Topics.STACKS, def));
    sendMessage(
        "h1",
        100,
        ProcessStarted.newBuilder()
            .setName("svc")
            .setCommand("svc --port 1")
            .setPpid(1)
            .setStartedAtMs(System.currentTimeMillis())
            .setSampleBytes(0)
            .build());
    List<AllocationEvent> events = new ArrayList<>();
    long seq = 0;
    for (int i = 0; i < 1000; i++)
      events.add(event(seq += 64, EventType.ALLOC, 0x10000 + i * 0x200L, 422, stack));
    for (int i = 0; i < 990; i++)
      events.add(event(seq += 24, EventType.FREE, 0x10000 + i * 0x200L, 0, 0));
    sendMessage(
        "h1",
        100,
        EventBatch.newBuilder()
            .setFirstSeq(64)
            .setEndSeq(seq + 24)
            .setLostEvents(3)
            .setEvents(events)
            .build());
    CounterSample counters =
        CounterSample.newBuilder()
            .setHost("h1")
            .setPid(100)
            .setName("svc")
            .setTimestampMs(1)
            .setPrivateBytes(5_000_000)
            .setVirtualBytes(9_000_000)
            .setResidentBytes(6_000_000)
            .setOpenFds(12)
            .setStartTimeSeconds(1.7e9)
            .build();
    send(
        Topics.COUNTERS,
        "h1/100",
        AvroSerde.of(CounterSample.class).serialize(Topics.COUNTERS, counters));

    String metrics =
        await(
            "/metrics",
            m ->
                m.contains("leakwatch_process_private_bytes{")
                    && m.contains(
                        "leakwatch_outstanding_bytes{allocator=\"libtoykey.so\",host=\"h1\",process=\"svc\"} 4220.0"));
    assertThat(metrics)
        .contains(
            "leakwatch_outstanding_allocations{allocator=\"libtoykey.so\",host=\"h1\",process=\"svc\"} 10.0");
    assertThat(metrics)
        .contains("leakwatch_process_private_bytes{host=\"h1\",process=\"svc\"} 5000000.0");
    assertThat(metrics).contains("leakwatch_process_open_fds{host=\"h1\",process=\"svc\"} 12.0");
    assertThat(metrics).contains("leakwatch_lost_events_total{host=\"h1\",process=\"svc\"} 3.0");
    assertThat(metrics)
        .contains(
            "leakwatch_stack_outstanding_bytes{culprit=\"svc!verify_signature+0x1c\",process=\"svc\",stack=\""
                + Topics.stackIdHex(stack)
                + "\"} 4220.0");

    JsonNode live =
        JSON.readTree(await("/api/report?host=h1&pid=100", b -> b.contains("\"bytes\":4220")));
    assertThat(live.path("allocators").get(0).path("module").asText()).isEqualTo("libtoykey.so");
    assertThat(live.path("stacks").get(0).path("frames").get(1).path("function").asText())
        .isEqualTo("verify_signature");
    assertThat(live.path("counters").path("privateBytes").asLong()).isEqualTo(5_000_000);
    assertThat(live.path("process").path("exited").asBoolean()).isFalse();

    // By name, as text
    assertThat(await("/api/report?process=svc&format=text", b -> true))
        .contains("libtoykey.so")
        .contains("svc!verify_signature+0x1c");
    // As a page (under a strict CSP) and as a pprof profile (gzip)
    HttpResponse<String> page = get("/api/report?host=h1&pid=100&format=html");
    assertThat(page.headers().firstValue("Content-Security-Policy"))
        .get()
        .asString()
        .contains("script-src 'self'");
    assertThat(page.body()).contains("data-tree=").contains("verify_signature");
    HttpResponse<byte[]> pprof =
        HTTP.send(
            HttpRequest.newBuilder(
                    URI.create(
                        "http://127.0.0.1:"
                            + app.httpPort()
                            + "/api/report?host=h1&pid=100&format=pprof"))
                .build(),
            HttpResponse.BodyHandlers.ofByteArray());
    assertThat(pprof.statusCode()).isEqualTo(200);
    assertThat(pprof.headers().firstValue("Content-Disposition"))
        .get()
        .asString()
        .contains("leakwatch-svc-100.pb.gz");
    assertThat(
            new String(
                new java.util.zip.GZIPInputStream(new java.io.ByteArrayInputStream(pprof.body()))
                    .readAllBytes(),
                java.nio.charset.StandardCharsets.ISO_8859_1))
        .contains("inuse_space")
        .contains("verify_signature")
        .contains("libtoykey.so");

    sendMessage(
        "h1",
        100,
        ProcessExited.newBuilder()
            .setExitedAtMs(System.currentTimeMillis())
            .setClean(true)
            .setLostEvents(3)
            .build());
    JsonNode exit =
        JSON.readTree(await("/api/report?host=h1&pid=100", b -> b.contains("\"exited\":true")));
    assertThat(exit.path("outstanding").path("bytes").asLong()).isEqualTo(4220);
    assertThat(exit.path("tracking").path("lostEvents").asLong()).isEqualTo(3);
    // An exited process leaves the live metrics
    await("/metrics", m -> !m.contains("process=\"svc\"} 4220.0"));
  }

  @Test
  void malformedRecordsAreSkippedAndValidOnesAroundThemProcessed() throws Exception {
    send(Topics.EVENTS, "h2/7", new byte[] {(byte) 0xC3, 1, 2, 3});
    send(Topics.EVENTS, "h2/7", "not avro at all".getBytes());
    sendMessage(
        "h2",
        7,
        ProcessStarted.newBuilder()
            .setName("after-junk")
            .setCommand("x")
            .setPpid(1)
            .setStartedAtMs(System.currentTimeMillis())
            .setSampleBytes(0)
            .build());
    await("/api/processes", b -> b.contains("after-junk"));
    assertThat(app.streams().state().isRunningOrRebalancing()).isTrue();
  }

  @Test
  void badParametersGetAClearFourHundred() throws Exception {
    assertThat(get("/api/report?pid=abc&host=h").statusCode()).isEqualTo(400);
    assertThat(get("/api/report?pid=abc&host=h").body()).contains("pid must be a positive integer");
    assertThat(get("/api/report?pid=5").body()).contains("pid needs host");
    assertThat(get("/api/report?host=h&pid=-1").statusCode()).isEqualTo(400);
    assertThat(get("/api/report?host=h&pid=1&pid=2").statusCode()).isEqualTo(400);
    assertThat(get("/api/report?host=h&pid=1&format=xml").statusCode()).isEqualTo(400);
    assertThat(rawStatusLine("/api/report?process=%zz")).contains(" 400 ");
    assertThat(rawStatusLine("/api/report?host=h&pid=" + "9".repeat(5000))).contains(" 400 ");
    assertThat(get("/api/report?host=nohost&pid=1").statusCode()).isEqualTo(404);
    assertThat(get("/api/fleet").body()).contains("process (1-255 characters) is required");
    assertThat(get("/api/fleet?process=" + "x".repeat(300)).statusCode()).isEqualTo(400);
    assertThat(get("/api/fleet?process=nothing-here").body()).contains("\"processes\":0");
    assertThat(get("/diff?host=h&pid=1&minutes=0").body())
        .contains("minutes must be a whole number from 1 to 1440");
    assertThat(get("/diff?host=h&pid=1&minutes=ten").statusCode()).isEqualTo(400);
    assertThat(get("/?sort=random").body()).contains("sort must be bytes or growth");
    assertThat(get("/static/../pom.xml").statusCode()).isEqualTo(404);
    assertThat(get("/static/leakwatch.js").headers().firstValue("Content-Type"))
        .get()
        .asString()
        .startsWith("text/javascript");
    assertThat(get("/nope").statusCode()).isEqualTo(404);
  }

  @Test
  void namesFromBinariesAreEscapedInPages() throws Exception {
    sendMessage(
        "h3",
        9,
        ProcessStarted.newBuilder()
            .setName("<script>alert(1)</script>")
            .setCommand("x")
            .setPpid(1)
            .setStartedAtMs(System.currentTimeMillis())
            .setSampleBytes(0)
            .build());
    String page = await("/", b -> b.contains("alert(1)"));
    assertThat(page)
        .doesNotContain("<script>alert(1)</script>")
        .contains("&lt;script&gt;alert(1)&lt;/script&gt;");
    // The same name inside the flame graph's JSON (an attribute) cannot close the attribute or the
    // element.
    StackDefinition def =
        StackDefinition.newBuilder()
            .setId(Topics.stackIdHex(77))
            .setAllocator("</script><b>x")
            .setCulprit("<img src=x onerror=alert(1)>")
            .setFrames(
                List.of(
                    Frame.newBuilder()
                        .setModule("m</script>")
                        .setFunction("</script><script>alert(2)</script>")
                        .setOffset(1)
                        .setModuleOffset(2)
                        .build()))
            .build();
    send(
        Topics.STACKS,
        def.getId(),
        AvroSerde.of(StackDefinition.class).serialize(Topics.STACKS, def));
    sendMessage(
        "h3",
        9,
        EventBatch.newBuilder()
            .setFirstSeq(0)
            .setEndSeq(64)
            .setLostEvents(0)
            .setEvents(List.of(event(0, EventType.ALLOC, 0x5000, 100, 77)))
            .build());
    String process = await("/process?host=h3&pid=9", b -> b.contains("onerror"));
    assertThat(process)
        .doesNotContain("<img")
        .doesNotContain("<script>alert")
        .doesNotContain("</script><b>")
        .contains("data-tree=")
        .contains("&lt;/script&gt;&lt;script&gt;alert(2)&lt;/script&gt;");
  }
}
