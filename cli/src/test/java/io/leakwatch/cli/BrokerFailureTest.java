package io.leakwatch.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.leakwatch.collector.Collector;
import io.leakwatch.collector.CollectorConfig;
import io.leakwatch.kafka.KafkaCluster;
import io.leakwatch.streams.StreamsApp;
import io.leakwatch.streams.StreamsAppConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.TopicDescription;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * One of three brokers (each its own JVM; replication 3, min.insync.replicas 2) killed with SIGKILL
 * while a target leaks: the collector's acks=all writes and the streams-app's transactions carry on
 * with two, and the totals are exact.
 */
class BrokerFailureTest {
  @TempDir
  Path tmp;

  @Test
  void oneOfThreeBrokersKilledMidStreamLosesNothing() throws Exception {
    Path runDir = Files.createDirectories(tmp.resolve("rings"));
    try (KafkaCluster kafka = KafkaCluster.start(3)) {
      StreamsAppConfig sc = StreamsAppConfig.defaults(kafka.bootstrapServers(), tmp.resolve("streams")).withHttpPort(-1)
          .withReplication((short) 3);
      try (StreamsApp streams = new StreamsApp(sc).start(Duration.ofMinutes(3));
           Collector collector = new Collector(CollectorConfig.defaults(kafka.bootstrapServers()).withRunDir(runDir).withHttpPort(0))
               .start()) {
        try (Admin admin = Admin.create(java.util.Map.of("bootstrap.servers", kafka.bootstrapServers()))) {
          TopicDescription events = admin.describeTopics(java.util.List.of(io.leakwatch.schemas.Topics.EVENTS)).allTopicNames()
              .get(30, TimeUnit.SECONDS).get(io.leakwatch.schemas.Topics.EVENTS);
          assertThat(events.partitions().get(0).replicas()).hasSize(3);
        }
        ProcessBuilder pb = new ProcessBuilder(Home.demoService().toString(), "20", "1000").redirectErrorStream(true);
        pb.environment().put("LD_PRELOAD", Home.agent().toString());
        pb.environment().put("LEAKWATCH_RUN_DIR", runDir.toString());
        pb.environment().put("LEAKWATCH_SAMPLE_BYTES", "0");
        Process service = pb.start();
        Thread.sleep(6_000);
        kafka.kill(0); // node 1: the first bootstrap address, a partition leader and a controller voter
        System.out.println("broker failure: node 1 killed");

        String out = new String(service.getInputStream().readAllBytes());
        assertThat(service.waitFor(60, TimeUnit.SECONDS)).isTrue();
        Matcher m = Pattern.compile("leaked (\\d+) keys").matcher(out);
        assertThat(m.find()).as(out).isTrue();
        long leaked = Long.parseLong(m.group(1));
        String host = CollectorConfig.localHostName();
        JsonNode r = null;
        long deadline = System.currentTimeMillis() + 180_000;
        while (r == null && System.currentTimeMillis() < deadline) {
          Optional<com.fasterxml.jackson.databind.node.ObjectNode> x = streams.reports().report(host, (int) service.pid());
          if (x.isPresent() && x.get().path("process").path("exited").asBoolean() && x.get().path("stacksResolved").asBoolean()) {
            r = x.get();
          }
          Thread.sleep(250);
        }
        assertThat(r).as("exit report with a broker down").isNotNull();
        long keyBytes = 0;
        for (JsonNode s : r.path("stacks")) if (s.path("frames").toString().contains("\"verify_signature\"")) keyBytes += s.path("bytes").asLong();
        System.out.println("broker failure: leaked " + leaked + " keys; tracking " + r.path("tracking"));
        assertThat(r.path("tracking").path("lostEvents").asLong()).isZero();
        assertThat(keyBytes).isEqualTo(leaked * 422);
        assertThat(r.path("outstanding").path("bytes").asLong()).isEqualTo(leaked * 422);
      }
    }
  }
}
