package io.leakwatch.kafka;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import java.util.function.IntFunction;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import kafka.server.KafkaConfig;
import kafka.server.KafkaRaftServer;
import kafka.tools.StorageTool;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.utils.Time;

/**
 * A real multi-node Kafka cluster on loopback for fault tests: each node (combined broker and
 * controller, KRaft) runs in its own JVM, so a test can kill one with SIGKILL mid-stream. Internal
 * and default topics are replicated to every node with min.insync.replicas = nodes - 1, the
 * production shape (3 and 2).
 */
public final class KafkaCluster implements AutoCloseable {
  private final Path dir;
  private final List<String> hosts;
  private final int[] clientPorts;
  private final List<Path> configs;
  private final Process[] nodes;
  private final IntFunction<List<String>> launcher;

  private KafkaCluster(
      Path dir,
      List<String> hosts,
      int[] clientPorts,
      List<Path> configs,
      IntFunction<List<String>> launcher) {
    this.dir = dir;
    this.hosts = hosts;
    this.clientPorts = clientPorts;
    this.configs = configs;
    this.launcher = launcher;
    this.nodes = new Process[clientPorts.length];
  }

  /** n nodes on loopback, on free ports. */
  public static KafkaCluster start(int n) {
    int[] client = new int[n];
    int[] controller = new int[n];
    for (int i = 0; i < n; i++) {
      client[i] = EmbeddedKafka.freePort();
      controller[i] = EmbeddedKafka.freePort();
    }
    return start(Collections.nCopies(n, "127.0.0.1"), client, controller, i -> List.of());
  }

  /**
   * One node on each of {@code addresses} (client port 9092, controller port 9093), node i started
   * with {@code launcher.apply(i)} before its java command (for example {@code ip netns exec NS}):
   * a cluster of hosts for network fault tests.
   */
  public static KafkaCluster start(List<String> addresses, IntFunction<List<String>> launcher) {
    int n = addresses.size();
    int[] client = new int[n];
    int[] controller = new int[n];
    Arrays.fill(client, 9092);
    Arrays.fill(controller, 9093);
    return start(addresses, client, controller, launcher);
  }

  private static KafkaCluster start(
      List<String> hosts, int[] client, int[] controller, IntFunction<List<String>> launcher) {
    int n = hosts.size();
    try {
      Path dir = Files.createTempDirectory("leakwatch-kafka-cluster-");
      String voters =
          IntStream.range(0, n)
              .mapToObj(i -> (i + 1) + "@" + hosts.get(i) + ":" + controller[i])
              .collect(Collectors.joining(","));
      String clusterId = Uuid.randomUuid().toString();
      String rf = Integer.toString(n);
      String minIsr = Integer.toString(Math.max(1, n - 1));
      List<Path> configs = new ArrayList<>();
      for (int i = 0; i < n; i++) {
        Properties p = new Properties();
        p.put("process.roles", "broker,controller");
        p.put("node.id", Integer.toString(i + 1));
        p.put("controller.quorum.voters", voters);
        p.put(
            "listeners",
            "PLAINTEXT://"
                + hosts.get(i)
                + ":"
                + client[i]
                + ",CONTROLLER://"
                + hosts.get(i)
                + ":"
                + controller[i]);
        p.put("advertised.listeners", "PLAINTEXT://" + hosts.get(i) + ":" + client[i]);
        p.put("controller.listener.names", "CONTROLLER");
        p.put("inter.broker.listener.name", "PLAINTEXT");
        p.put("listener.security.protocol.map", "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT");
        p.put("log.dirs", dir.resolve("node" + (i + 1)).resolve("logs").toString());
        p.put("offsets.topic.replication.factor", rf);
        p.put("offsets.topic.num.partitions", "4");
        p.put("transaction.state.log.replication.factor", rf);
        p.put("transaction.state.log.min.isr", minIsr);
        p.put("transaction.state.log.num.partitions", "4");
        p.put("share.coordinator.state.topic.replication.factor", rf);
        p.put("share.coordinator.state.topic.min.isr", minIsr);
        p.put("default.replication.factor", rf);
        p.put("min.insync.replicas", minIsr);
        p.put("group.initial.rebalance.delay.ms", "0");
        p.put("auto.create.topics.enable", "false");
        p.put("num.partitions", "4");
        Path config = dir.resolve("node" + (i + 1) + ".properties");
        Files.createDirectories(dir.resolve("node" + (i + 1)));
        try (var out = Files.newOutputStream(config)) {
          p.store(out, "leakwatch cluster node " + (i + 1));
        }
        ByteArrayOutputStream log = new ByteArrayOutputStream();
        int rc =
            StorageTool.execute(
                new String[] {"format", "-t", clusterId, "-c", config.toString()},
                new PrintStream(log, true, StandardCharsets.UTF_8));
        if (rc != 0)
          throw new IllegalStateException("format failed: " + log.toString(StandardCharsets.UTF_8));
        configs.add(config);
      }
      KafkaCluster c = new KafkaCluster(dir, List.copyOf(hosts), client, configs, launcher);
      try {
        for (int i = 0; i < n; i++) c.startNode(i);
        c.awaitBrokers(n, 120_000);
      } catch (IOException | RuntimeException e) {
        c.killNodes(); // no node left running behind a failed start (the logs stay, named in the
        // error)
        throw e;
      }
      return c;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private void startNode(int i) throws IOException {
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    List<String> command = new ArrayList<>(launcher.apply(i));
    command.addAll(
        List.of(
            java,
            "-Xmx384m",
            "-XX:+UseSerialGC",
            "-cp",
            System.getProperty("java.class.path"),
            KafkaCluster.class.getName(),
            configs.get(i).toString()));
    nodes[i] =
        new ProcessBuilder(command)
            .redirectErrorStream(true)
            .redirectOutput(dir.resolve("node" + (i + 1) + ".log").toFile())
            .start();
  }

  /** Waits until {@code n} brokers are registered and serving. */
  public void awaitBrokers(int n, long timeoutMs) {
    long deadline = System.currentTimeMillis() + timeoutMs;
    while (true) {
      try (Admin admin =
          Admin.create(
              Map.of(
                  "bootstrap.servers",
                  bootstrapServers(),
                  "request.timeout.ms",
                  5000,
                  "default.api.timeout.ms",
                  5000))) {
        if (admin.describeCluster().nodes().get(5, TimeUnit.SECONDS).size() >= n) return;
      } catch (Exception e) {
        // not up yet
      }
      if (System.currentTimeMillis() > deadline)
        throw new IllegalStateException("cluster did not come up; logs in " + dir);
      try {
        Thread.sleep(500);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IllegalStateException(e);
      }
    }
  }

  public String bootstrapServers() {
    return IntStream.range(0, hosts.size())
        .mapToObj(i -> hosts.get(i) + ":" + clientPorts[i])
        .collect(Collectors.joining(","));
  }

  public int size() {
    return nodes.length;
  }

  /** SIGKILLs node {@code i} (0-based): no controlled shutdown, no flush. */
  public void kill(int i) throws InterruptedException {
    nodes[i].destroyForcibly();
    nodes[i].waitFor(30, TimeUnit.SECONDS);
  }

  /** Node i's log (the broker's own output). */
  public Path log(int i) {
    return dir.resolve("node" + (i + 1) + ".log");
  }

  private void killNodes() {
    for (Process p : nodes) {
      if (p != null) p.destroyForcibly();
    }
    for (Process p : nodes) {
      try {
        if (p != null) p.waitFor(30, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
  }

  @Override
  public void close() {
    killNodes();
    try (Stream<Path> walk = Files.walk(dir)) {
      walk.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    } catch (IOException ignored) {
      // a temporary directory left behind is harmless
    }
  }

  /** One node: {@code KafkaCluster server.properties}, run in its own JVM by {@link #start}. */
  public static void main(String[] args) throws IOException {
    Properties p = new Properties();
    try (var in = Files.newInputStream(Path.of(args[0]))) {
      p.load(in);
    }
    KafkaRaftServer server = new KafkaRaftServer(KafkaConfig.fromProps(p, false), Time.SYSTEM);
    server.startup();
    server.awaitShutdown();
  }
}
