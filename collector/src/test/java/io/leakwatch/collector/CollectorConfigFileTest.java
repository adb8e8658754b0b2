package io.leakwatch.collector;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

class CollectorConfigFileTest {
  private static final String YAML_PUNCTUATION = ":-[]{}'\"\n #&*!|>%@`,?";
  private static final CollectorConfig BASE = CollectorConfig.defaults("");

  @Test
  void theExampleInTheDocsLoadsAndMeansWhatItSays() {
    Path example =
        Path.of(System.getProperty("user.dir")).getParent().resolve("docs/collector.example.yml");
    CollectorConfig c = CollectorConfigFile.load(example, BASE);
    assertThat(c.kafka())
        .containsEntry("bootstrap.servers", "kafka-1:9093,kafka-2:9093,kafka-3:9093")
        .containsEntry("security.protocol", "SASL_SSL")
        .containsEntry("sasl.mechanism", "SCRAM-SHA-512")
        .containsEntry("ssl.truststore.type", "PKCS12");
    assertThat((String) c.kafka().get("sasl.jaas.config"))
        .startsWith("org.apache.kafka.common.security.scram.ScramLoginModule required")
        .endsWith("password=\"change-me\";");
    assertThat(c.runDir()).isEqualTo(Path.of("/dev/shm/leakwatch"));
    assertThat(c.httpBind()).isEqualTo("127.0.0.1");
    assertThat(c.httpPort()).isEqualTo(9400);
    assertThat(c.counterIntervalMs()).isEqualTo(5000);
    assertThat(c.maxStacksRemembered()).isEqualTo(100_000);
    assertThat(
            c.names()
                .name(List.of("/usr/bin/java", "-Dservice.name=billing", "-jar", "b.jar"), "java"))
        .isEqualTo("billing");
    assertThat(c.names().name(List.of("/usr/lib/postgresql/16/bin/postgres"), "postgres"))
        .isEqualTo("postgres");
    assertThat(c.names().name(List.of("/usr/sbin/nginx"), "nginx")).isEqualTo("nginx");
    assertThat(c.redaction().redact(List.of("app", "--license=AB-12", "--password=x", "--port=1")))
        .containsExactly("app", "--license=***", "--password=***", "--port=1");
  }

  @Test
  void theSymbolsSectionSetsTheSymbolizerAndTheDebuginfodServersInOrder() {
    CollectorConfig c =
        CollectorConfigFile.parse(
            "symbols:\n"
                + "  symbolizer: /opt/llvm/bin/llvm-symbolizer\n"
                + "  debuginfodUrls: [http://127.0.0.1:8002, 'https://a.example https://b.example/d']\n"
                + "  debuginfodCache: /var/cache/lw-debuginfod\n"
                + "  debuginfodTimeoutMs: 1500\n"
                + "  debuginfodMaxMiB: 3\n",
            BASE);
    assertThat(c.sourceLines().symbolizer()).isEqualTo("/opt/llvm/bin/llvm-symbolizer");
    assertThat(c.sourceLines().debuginfod().servers())
        .extracting(java.net.URI::toString)
        .containsExactly("http://127.0.0.1:8002", "https://a.example", "https://b.example/d");
    assertThat(c.sourceLines().debuginfod().cacheDir())
        .isEqualTo(Path.of("/var/cache/lw-debuginfod"));
    assertThat(c.sourceLines().debuginfod().timeout()).hasMillis(1500);
    assertThat(c.sourceLines().debuginfod().maxBytes()).isEqualTo(3L << 20);
    assertThat(
            CollectorConfigFile.parse("symbols:\n  lines: false\n", BASE).sourceLines().enabled())
        .isFalse();
    assertThatThrownBy(
            () -> CollectorConfigFile.parse("symbols:\n  debuginfodUrls: [ftp://x]\n", BASE))
        .hasMessageContaining("symbols.debuginfodUrls");
    assertThatThrownBy(
            () -> CollectorConfigFile.parse("symbols:\n  debuginfodTimeoutMs: 5\n", BASE))
        .hasMessageContaining("debuginfodTimeoutMs");
  }

  @Test
  void redactionPatternsAreCheckedWhenTheFileIsRead() {
    assertThatThrownBy(
            () -> CollectorConfigFile.parse("redact:\n  patterns: ['(unclosed']\n", BASE))
        .hasMessageContaining("redact.patterns: bad regex");
    assertThatThrownBy(() -> CollectorConfigFile.parse("redact:\n  defaults: maybe\n", BASE))
        .hasMessageContaining("redact.defaults must be true or false");
    CollectorConfig off = CollectorConfigFile.parse("redact:\n  defaults: false\n", BASE);
    assertThat(off.redaction().redact(List.of("--password=x"))).containsExactly("--password=x");
  }

  @Test
  void commandLineOptionsBeatTheFile(@org.junit.jupiter.api.io.TempDir Path dir) throws Exception {
    Path f =
        Files.writeString(
            dir.resolve("c.yml"),
            "kafka:\n  bootstrap.servers: from-file:9092\n  linger.ms: 5\nhttp:\n  port: 9500\n");
    CollectorConfig c = CollectorMain.configure(f, "flag:9092", null, "0.0.0.0", dir);
    assertThat(c.kafka())
        .containsEntry("bootstrap.servers", "flag:9092")
        .containsEntry("linger.ms", "5");
    assertThat(c.httpPort()).isEqualTo(9500);
    assertThat(c.httpBind()).isEqualTo("0.0.0.0");
    assertThat(c.runDir()).isEqualTo(dir);
    assertThat(CollectorMain.configure(f, null, 0, null, null).kafka())
        .containsEntry("bootstrap.servers", "from-file:9092");
    assertThatThrownBy(() -> CollectorMain.configure(null, null, null, null, null))
        .hasMessageContaining("no Kafka");
  }

  @Test
  void httpBindsToLoopbackUnlessConfigured() {
    assertThat(CollectorConfig.defaults("k:9092").httpBind()).isEqualTo("127.0.0.1");
    assertThat(
            io.leakwatch.collector.CollectorMain.configure(null, "k:9092", null, null, null)
                .httpBind())
        .isEqualTo("127.0.0.1");
  }

  @Test
  void mistakesAreRefusedWithTheirReason() {
    assertThatThrownBy(() -> CollectorConfigFile.parse("kafak:\n  bootstrap.servers: x\n", BASE))
        .hasMessageContaining("unknown setting 'kafak'");
    assertThatThrownBy(() -> CollectorConfigFile.parse("http:\n  prot: 1\n", BASE))
        .hasMessageContaining("'http.prot'");
    assertThatThrownBy(() -> CollectorConfigFile.parse("http:\n  port: 70000\n", BASE))
        .hasMessageContaining("between 0 and 65535");
    assertThatThrownBy(() -> CollectorConfigFile.parse("http:\n  port: nine\n", BASE))
        .hasMessageContaining("whole number");
    assertThatThrownBy(() -> CollectorConfigFile.parse("- a\n- b\n", BASE))
        .hasMessageContaining("top level must be a mapping");
    assertThatThrownBy(() -> CollectorConfigFile.parse("kafka: [1, 2]\n", BASE))
        .hasMessageContaining("kafka must be a mapping");
    assertThatThrownBy(() -> CollectorConfigFile.parse("kafka:\n  a: {b: c}\n", BASE))
        .hasMessageContaining("kafka.a must be a plain value");
    assertThatThrownBy(
            () ->
                CollectorConfigFile.parse(
                    "process_names:\n  - name: x\n    cmdline: ['(']\n", BASE))
        .hasMessageContaining("process_names[0].cmdline: bad regex");
    assertThatThrownBy(
            () -> CollectorConfigFile.parse("process_names:\n  - cmdline: ['x']\n", BASE))
        .hasMessageContaining("name template");
    assertThatThrownBy(
            () ->
                CollectorConfigFile.parse(
                    "process_names:\n  - name: '{{.Matches.N}}'\n    cmdline: ['(?<M>x)']\n", BASE))
        .hasMessageContaining("{{.Matches.N}}");
    assertThatThrownBy(() -> CollectorConfigFile.parse("host: [\n", BASE))
        .hasMessageContaining("not valid YAML");
    assertThat(CollectorConfigFile.parse("", BASE)).isEqualTo(BASE);
    assertThat(CollectorConfigFile.parse("# only a comment\n", BASE)).isEqualTo(BASE);
  }

  /** Whatever bytes are in the file, loading ends in a config or an IllegalArgumentException. */
  @Test
  void mutatedFilesNeverEscapeAsAnythingElse() throws Exception {
    Path example =
        Path.of(System.getProperty("user.dir")).getParent().resolve("docs/collector.example.yml");
    byte[] seed = Files.readAllBytes(example);
    Random rnd = new Random(42);
    int refused = 0;
    for (int i = 0; i < 3000; i++) {
      byte[] b = seed.clone();
      int edits = 1 + rnd.nextInt(8);
      for (int e = 0; e < edits; e++) {
        int at = rnd.nextInt(b.length);
        switch (rnd.nextInt(3)) {
          case 0 -> b[at] = (byte) rnd.nextInt(256);
          case 1 -> b[at] = (byte) YAML_PUNCTUATION.charAt(rnd.nextInt(YAML_PUNCTUATION.length()));
          default -> b = java.util.Arrays.copyOf(b, at);
        }
        if (b.length == 0) break;
      }
      try {
        CollectorConfigFile.parse(new String(b, java.nio.charset.StandardCharsets.UTF_8), BASE);
      } catch (IllegalArgumentException expected) {
        refused++;
      }
    }
    assertThat(refused).isGreaterThan(100);
  }
}
