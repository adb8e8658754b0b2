package io.leakwatch.kafka;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.Map;
import java.util.Properties;
import java.util.stream.Stream;
import kafka.server.KafkaConfig;
import kafka.server.KafkaRaftServer;
import kafka.tools.StorageTool;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.utils.Time;

/**
 * A real single-node Kafka (KRaft, combined broker and controller) inside this JVM, on loopback.
 * Local mode and the integration tests use it; it is the same broker code a cluster runs, with the
 * internal topics' replication set to 1 so transactions (exactly-once Streams) work on one node.
 */
public final class EmbeddedKafka implements AutoCloseable {
  private KafkaRaftServer server;
  private final Properties props;
  private final Path dataDir;
  private final boolean deleteOnClose;
  private final int port;
  private int saslPort = -1;

  private EmbeddedKafka(
      KafkaRaftServer server, Properties props, Path dataDir, boolean deleteOnClose, int port) {
    this.server = server;
    this.props = props;
    this.dataDir = dataDir;
    this.deleteOnClose = deleteOnClose;
    this.port = port;
  }

  /** A broker on a free loopback port with its data in a temporary directory removed on close. */
  public static EmbeddedKafka start() {
    try {
      return start(Files.createTempDirectory("leakwatch-kafka-"), 0, true, Map.of());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /**
   * A broker with a second client listener that requires SASL/PLAIN authentication (for tests that
   * Kafka security settings pass through). {@link #saslBootstrapServers()} names it.
   *
   * @param users user name to password
   */
  public static EmbeddedKafka startWithSaslPlain(Map<String, String> users) {
    int sasl = freePort();
    StringBuilder jaas =
        new StringBuilder("org.apache.kafka.common.security.plain.PlainLoginModule required");
    users.forEach((u, pw) -> jaas.append(" user_").append(u).append("=\"").append(pw).append('"'));
    jaas.append(';');
    try {
      Path dir = Files.createTempDirectory("leakwatch-kafka-sasl-");
      EmbeddedKafka k =
          start(
              dir,
              0,
              true,
              Map.of(
                  "extra.listener",
                  "SASL_PLAINTEXT://127.0.0.1:" + sasl,
                  "sasl.enabled.mechanisms",
                  "PLAIN",
                  "listener.name.sasl_plaintext.plain.sasl.jaas.config",
                  jaas.toString()));
      k.saslPort = sasl;
      return k;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** The SASL_PLAINTEXT listener of a broker started by {@link #startWithSaslPlain}. */
  public String saslBootstrapServers() {
    if (saslPort < 0) throw new IllegalStateException("this broker has no SASL listener");
    return "127.0.0.1:" + saslPort;
  }

  /**
   * @param port the client port, 0 for any free one
   * @param overrides broker properties that replace the defaults below
   */
  public static EmbeddedKafka start(
      Path dataDir, int port, boolean deleteOnClose, Map<String, String> overrides) {
    int clientPort = port == 0 ? freePort() : port;
    int controllerPort = freePort();
    Properties props = new Properties();
    props.put("process.roles", "broker,controller");
    props.put("node.id", "1");
    props.put("controller.quorum.voters", "1@127.0.0.1:" + controllerPort);
    props.put(
        "listeners",
        "PLAINTEXT://127.0.0.1:" + clientPort + ",CONTROLLER://127.0.0.1:" + controllerPort);
    props.put("advertised.listeners", "PLAINTEXT://127.0.0.1:" + clientPort);
    props.put("controller.listener.names", "CONTROLLER");
    props.put("inter.broker.listener.name", "PLAINTEXT");
    props.put("listener.security.protocol.map", "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT");
    props.put("log.dirs", dataDir.resolve("logs").toString());
    props.put("offsets.topic.replication.factor", "1");
    props.put("offsets.topic.num.partitions", "4");
    props.put("transaction.state.log.replication.factor", "1");
    props.put("transaction.state.log.min.isr", "1");
    props.put("transaction.state.log.num.partitions", "4");
    props.put("share.coordinator.state.topic.replication.factor", "1");
    props.put("share.coordinator.state.topic.min.isr", "1");
    props.put("group.initial.rebalance.delay.ms", "0");
    props.put("auto.create.topics.enable", "false");
    props.put("num.partitions", "4");
    overrides.forEach(props::put);
    String extra = (String) props.remove("extra.listener");
    if (extra != null) { // another client listener, e.g. SASL_PLAINTEXT://127.0.0.1:P
      String name = extra.substring(0, extra.indexOf(':'));
      props.put("listeners", props.getProperty("listeners") + "," + extra);
      props.put("advertised.listeners", props.getProperty("advertised.listeners") + "," + extra);
      props.put(
          "listener.security.protocol.map",
          props.getProperty("listener.security.protocol.map") + "," + name + ":" + name);
    }
    try {
      Files.createDirectories(dataDir);
      Path config = dataDir.resolve("server.properties");
      try (var out = Files.newOutputStream(config)) {
        props.store(out, "leakwatch embedded broker");
      }
      if (!Files.exists(dataDir.resolve("logs").resolve("meta.properties"))) {
        format(config);
      }
      return new EmbeddedKafka(startServer(props), props, dataDir, deleteOnClose, clientPort);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static KafkaRaftServer startServer(Properties props) {
    KafkaRaftServer server = new KafkaRaftServer(KafkaConfig.fromProps(props, false), Time.SYSTEM);
    server.startup();
    return server;
  }

  /** Stops the broker, keeping its data and ports (clients see it unreachable), for fault tests. */
  public synchronized void stop() {
    if (server == null) return;
    server.shutdown();
    server.awaitShutdown();
    server = null;
  }

  /** Starts a stopped broker again on the same ports with the same data. */
  public synchronized void restart() {
    if (server != null) return;
    long deadline = System.currentTimeMillis() + 30_000;
    while (true) {
      try {
        server = startServer(props);
        return;
      } catch (RuntimeException e) {
        // The old listening sockets may linger for a moment; retry until the ports are free again.
        if (System.currentTimeMillis() > deadline) throw e;
        try {
          Thread.sleep(500);
        } catch (InterruptedException ie) {
          Thread.currentThread().interrupt();
          throw e;
        }
      }
    }
  }

  private static void format(Path config) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    int rc =
        StorageTool.execute(
            new String[] {"format", "-t", Uuid.randomUuid().toString(), "-c", config.toString()},
            new PrintStream(out, true, StandardCharsets.UTF_8));
    if (rc != 0) {
      throw new IllegalStateException(
          "kafka storage format failed: " + out.toString(StandardCharsets.UTF_8));
    }
  }

  static int freePort() {
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      s.setReuseAddress(true);
      return s.getLocalPort();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  public String bootstrapServers() {
    return "127.0.0.1:" + port;
  }

  public int port() {
    return port;
  }

  @Override
  public void close() {
    stop();
    if (deleteOnClose) {
      try (Stream<Path> walk = Files.walk(dataDir)) {
        walk.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
      } catch (IOException ignored) {
        // a temporary directory left behind is harmless
      }
    }
  }
}
