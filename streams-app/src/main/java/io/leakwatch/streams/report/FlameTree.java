package io.leakwatch.streams.report;

import com.fasterxml.jackson.annotation.JsonInclude;
import io.leakwatch.streams.report.model.FrameRow;
import io.leakwatch.streams.report.model.ProcessReport;
import io.leakwatch.streams.report.model.StackRow;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * The icicle of a report: outstanding bytes by call path, the outermost caller under the root and
 * the allocator at the leaves. Its JSON ({n: name, v: bytes, s: source lines, c: children}) is what
 * the page's script draws.
 *
 * <p>A node is a function on a call path, not a line: the same function reached from two lines of
 * its caller is one box, as flame graphs aggregate. The lines merged into it are listed in {@code
 * s} (file:line, most bytes first, at most {@link #MAX_SOURCES}), so the box still says which line
 * to open; a frame without debug info adds none.
 */
public record FlameTree(
    String n,
    long v,
    @JsonInclude(JsonInclude.Include.NON_EMPTY) List<String> s,
    @JsonInclude(JsonInclude.Include.NON_EMPTY) List<FlameTree> c) {

  /** Source lines kept per node; a function reached from more lines says "+N more". */
  public static final int MAX_SOURCES = 4;

  public static FlameTree of(ProcessReport r) {
    Node root = new Node("all");
    for (StackRow s : r.stacks()) {
      root.v += s.bytes();
      Node node = root;
      List<FrameRow> frames = s.frames() == null ? List.of() : s.frames();
      for (int i = frames.size() - 1; i >= 0; i--) {
        FrameRow f = frames.get(i);
        node =
            node.child(
                f.function() != null && !f.inlined()
                    ? f.module() + "!" + f.function()
                    : f.display());
        node.v += s.bytes();
        if (f.source() != null) node.sources.merge(f.source(), s.bytes(), Long::sum);
      }
    }
    return root.freeze();
  }

  /** Mutable while the tree is built. */
  private static final class Node {
    final String name;
    long v;
    final List<Node> children = new ArrayList<>();
    final Map<String, Long> sources = new HashMap<>();

    Node(String name) {
      this.name = name;
    }

    Node child(String name) {
      for (Node k : children) if (k.name.equals(name)) return k;
      Node k = new Node(name);
      children.add(k);
      return k;
    }

    FlameTree freeze() {
      List<String> s =
          sources.entrySet().stream()
              .sorted(
                  Map.Entry.<String, Long>comparingByValue()
                      .reversed()
                      .thenComparing(Map.Entry.comparingByKey()))
              .limit(MAX_SOURCES)
              .map(Map.Entry::getKey)
              .collect(Collectors.toCollection(ArrayList::new));
      if (sources.size() > MAX_SOURCES) s.add("+" + (sources.size() - MAX_SOURCES) + " more");
      return new FlameTree(name, v, s, children.stream().map(Node::freeze).toList());
    }
  }
}
