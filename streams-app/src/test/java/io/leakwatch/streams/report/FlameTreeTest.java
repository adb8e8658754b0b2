package io.leakwatch.streams.report;

import static org.assertj.core.api.Assertions.assertThat;

import io.leakwatch.streams.report.model.FrameRow;
import io.leakwatch.streams.report.model.ProcessReport;
import io.leakwatch.streams.report.model.StackRow;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class FlameTreeTest {
  private static FrameRow frame(String module, String function, String file, Integer line) {
    return frame(module, function, file, line, false);
  }

  private static FrameRow frame(
      String module, String function, String file, Integer line, boolean inlined) {
    String display = module + "!" + function + (inlined ? " (inlined)" : "+0x10");
    return new FrameRow(module, function, 0x10, file, line, inlined, 0x1010, null, display);
  }

  /** A stack of these frames, allocation site first, holding {@code bytes}. */
  private static StackRow stack(String id, long bytes, FrameRow... frames) {
    return new StackRow(id, "heap", bytes, 1, 1, 1.0, null, List.of(), null, null, List.of(frames));
  }

  private static ProcessReport report(StackRow... stacks) {
    return new ProcessReport(null, null, null, null, List.of(stacks), 0, null, true);
  }

  private static FlameTree path(FlameTree from, String... names) {
    FlameTree node = from;
    for (String name : names) {
      node = node.c().stream().filter(k -> k.n().equals(name)).findFirst().orElseThrow();
    }
    return node;
  }

  @Test
  void aFunctionReachedFromTwoLinesIsOneBoxThatListsBothLinesMostBytesFirst() {
    FlameTree tree =
        FlameTree.of(
            report(
                stack(
                    "a",
                    100,
                    frame("libc.so.6", "malloc", null, null),
                    frame("app", "leak", "src/app.c", 10),
                    frame("app", "main", "src/main.c", 5)),
                stack(
                    "b",
                    300,
                    frame("libc.so.6", "malloc", null, null),
                    frame("app", "leak", "src/app.c", 12),
                    frame("app", "main", "src/main.c", 5))));

    assertThat(tree.v()).isEqualTo(400);
    FlameTree main = path(tree, "app!main");
    assertThat(main.s()).containsExactly("src/main.c:5");
    FlameTree leak = path(tree, "app!main", "app!leak");
    assertThat(leak.v()).isEqualTo(400);
    assertThat(leak.s()).containsExactly("src/app.c:12", "src/app.c:10");
    // a frame without debug info adds no line
    assertThat(path(tree, "app!main", "app!leak", "libc.so.6!malloc").s()).isEmpty();
  }

  @Test
  void anInlinedCallKeepsItsOwnBoxWithItsOwnLine() {
    FlameTree tree =
        FlameTree.of(
            report(
                stack(
                    "a",
                    64,
                    frame("libc.so.6", "malloc", null, null),
                    frame("app", "new_key", "key.h", 7, true),
                    frame("app", "open_session", "session.c", 31))));
    FlameTree inlined = path(tree, "app!open_session", "app!new_key (inlined)");
    assertThat(inlined.s()).containsExactly("key.h:7");
    assertThat(path(tree, "app!open_session").s()).containsExactly("session.c:31");
  }

  @Test
  void aFunctionReachedFromManyLinesKeepsTheFirstFewAndCountsTheRest() {
    List<StackRow> stacks = new ArrayList<>();
    for (int line = 1; line <= FlameTree.MAX_SOURCES + 3; line++) {
      stacks.add(
          stack(
              "s" + line,
              1000 - line,
              frame("libc.so.6", "malloc", null, null),
              frame("app", "parse", "parse.c", line)));
    }
    FlameTree parse = path(FlameTree.of(report(stacks.toArray(StackRow[]::new))), "app!parse");
    assertThat(parse.s())
        .hasSize(FlameTree.MAX_SOURCES + 1)
        .startsWith("parse.c:1", "parse.c:2")
        .endsWith("+3 more");
  }
}
