package io.leakwatch.collector.proc;

import java.util.List;

/**
 * Process names in the style of process-exporter: the executable's base name by default; for a JVM
 * the main class or the jar, so "java" does not name every service on the host.
 */
public final class ProcessNames {
  private ProcessNames() {}

  public static String name(List<String> cmdline) {
    if (cmdline.isEmpty()) return "unknown";
    String exe = baseName(cmdline.get(0));
    if (exe.equals("java") || exe.equals("javaw")) {
      for (int i = 1; i < cmdline.size(); i++) {
        String a = cmdline.get(i);
        if (a.equals("-jar") && i + 1 < cmdline.size()) return baseName(cmdline.get(i + 1));
        if (a.equals("-cp") || a.equals("-classpath") || a.equals("--class-path") || a.equals("-p")
            || a.equals("--module-path") || a.equals("--add-opens") || a.equals("--add-exports")) {
          i++;
          continue;
        }
        if (a.equals("-m") || a.equals("--module")) return i + 1 < cmdline.size() ? cmdline.get(i + 1) : exe;
        if (!a.startsWith("-")) return a;
      }
    }
    return sanitize(exe);
  }

  static String baseName(String path) {
    int slash = path.lastIndexOf('/');
    return slash >= 0 ? path.substring(slash + 1) : path;
  }

  /** Names become label values and key parts: keep them printable and short. */
  static String sanitize(String s) {
    StringBuilder b = new StringBuilder();
    for (int i = 0; i < s.length() && b.length() < 64; i++) {
      char c = s.charAt(i);
      b.append(c < 0x20 || c == '/' || c == 0x7f ? '_' : c);
    }
    return b.length() == 0 ? "unknown" : b.toString();
  }
}
