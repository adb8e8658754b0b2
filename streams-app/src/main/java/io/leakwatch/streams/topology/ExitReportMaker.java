package io.leakwatch.streams.topology;

import io.leakwatch.schemas.CounterSample;
import io.leakwatch.schemas.StackDefinition;
import io.leakwatch.streams.score.StackAges;
import io.leakwatch.streams.state.Outstanding;
import io.leakwatch.streams.state.ProcessState;
import io.leakwatch.streams.state.StackTrend;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import org.apache.kafka.streams.KeyValue;

/**
 * What the matcher keeps and publishes of a process that exited, made by the report package: the
 * topology decides when a process is retired and what state it held, never how a report looks (so
 * the dependency points from report to topology, not back).
 */
public interface ExitReportMaker {
  /**
   * What a process held when it was retired, as read from its stores just before they are cleared.
   */
  record ProcessAtExit(
      ProcessState state,
      List<KeyValue<String, Outstanding>> rows,
      StackAges ages,
      Map<Long, StackTrend> trends,
      CounterSample counters,
      long exitedAtMs,
      Function<String, StackDefinition> stacks) {}

  /**
   * @param snapshotJson kept in the exit-reports store: data, named when asked (a stack definition
   *     that arrives late still names its frames)
   * @param reportJson published on the exit-reports topic, named with what is known now
   */
  record ExitReportJson(String snapshotJson, String reportJson) {}

  /** Both fit in one Kafka record each (they travel through a changelog and a topic). */
  ExitReportJson make(ProcessAtExit exit);
}
