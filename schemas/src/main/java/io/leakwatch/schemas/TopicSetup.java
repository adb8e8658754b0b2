package io.leakwatch.schemas;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.errors.TopicExistsException;

/** Creates the leakwatch topics if they are missing (local mode, tests, first start of a stack). */
public final class TopicSetup {
  private TopicSetup() {}

  /**
   * A topic of {@code partitions}; {@code replication} below 1 takes the cluster's
   * default.replication.factor.
   */
  static NewTopic newTopic(String name, int partitions, short replication) {
    return new NewTopic(
        name,
        Optional.of(partitions),
        replication > 0 ? Optional.of(replication) : Optional.empty());
  }

  /** Creates one plain topic if it is missing. */
  public static void ensureTopic(
      Map<String, Object> clientConfig, String name, int partitions, short replication) {
    Properties props = new Properties();
    props.putAll(clientConfig);
    try (Admin admin = Admin.create(props)) {
      if (!admin.listTopics().names().get().contains(name)) {
        admin.createTopics(List.of(newTopic(name, partitions, replication))).all().get();
        awaitLeaders(admin, List.of(name));
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted creating topics", e);
    } catch (ExecutionException e) {
      if (!(e.getCause() instanceof TopicExistsException)) {
        throw new IllegalStateException(
            "cannot create topic " + name + ": " + e.getCause().getMessage(), e.getCause());
      }
    }
  }

  /**
   * Creating a topic returns when the controller has it; the brokers learn of it a moment later. A
   * client that asks a broker too early sees no partitions (Kafka Streams' global store then fails
   * its start), so wait until every partition has a leader.
   */
  private static void awaitLeaders(Admin admin, List<String> names) throws InterruptedException {
    long deadline = System.currentTimeMillis() + 30_000;
    while (true) {
      try {
        boolean ready = true;
        for (var d : admin.describeTopics(names).allTopicNames().get().values()) {
          for (var p : d.partitions()) ready &= p.leader() != null && !p.leader().isEmpty();
        }
        if (ready) return;
      } catch (ExecutionException notYet) {
        // unknown to the broker asked: it has not caught up yet
      }
      if (System.currentTimeMillis() > deadline)
        throw new IllegalStateException("topics " + names + " have no leaders after 30 s");
      Thread.sleep(100);
    }
  }

  public static void ensureTopics(
      Map<String, Object> clientConfig, int partitions, short replication) {
    Properties props = new Properties();
    props.putAll(clientConfig);
    props.putIfAbsent(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, 30_000);
    try (Admin admin = Admin.create(props)) {
      Set<String> existing = admin.listTopics().names().get();
      List<NewTopic> wanted = new ArrayList<>();
      Map<String, String> compacted = Map.of("cleanup.policy", "compact");
      if (!existing.contains(Topics.EVENTS))
        wanted.add(newTopic(Topics.EVENTS, partitions, replication));
      if (!existing.contains(Topics.COUNTERS))
        wanted.add(newTopic(Topics.COUNTERS, partitions, replication));
      if (!existing.contains(Topics.STACKS)) {
        wanted.add(newTopic(Topics.STACKS, partitions, replication).configs(compacted));
      }
      if (!existing.contains(Topics.EXIT_REPORTS)) {
        wanted.add(newTopic(Topics.EXIT_REPORTS, partitions, replication).configs(compacted));
      }
      if (!wanted.isEmpty()) {
        try {
          admin.createTopics(wanted).all().get();
        } catch (ExecutionException e) {
          if (!(e.getCause() instanceof TopicExistsException)) throw e;
        }
        awaitLeaders(admin, wanted.stream().map(NewTopic::name).toList());
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted creating topics", e);
    } catch (ExecutionException e) {
      throw new IllegalStateException(
          "cannot create leakwatch topics: " + e.getCause().getMessage(), e.getCause());
    }
  }
}
