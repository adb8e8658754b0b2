package io.leakwatch.streams.report;

import com.fasterxml.jackson.annotation.JsonInclude;
import io.leakwatch.streams.report.model.FrameRow;
import io.leakwatch.streams.report.model.ProcessReport;
import io.leakwatch.streams.report.model.StackRow;
import java.util.ArrayList;
import java.util.List;

/**
 * The icicle of a report: outstanding bytes by call path, the outermost caller under the root and
 * the allocator at the leaves. Its JSON ({n: name, v: bytes, c: children}) is what the page's
 * script draws.
 */
public record FlameTree(
    String n, long v, @JsonInclude(JsonInclude.Include.NON_EMPTY) List<FlameTree> c) {

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
      }
    }
    return root.freeze();
  }

  /** Mutable while the tree is built. */
  private static final class Node {
    final String name;
    long v;
    final List<Node> children = new ArrayList<>();

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
      return new FlameTree(name, v, children.stream().map(Node::freeze).toList());
    }
  }
}
