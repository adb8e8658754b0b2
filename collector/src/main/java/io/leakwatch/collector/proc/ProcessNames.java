package io.leakwatch.collector.proc;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Process names in the style of process-exporter: the executable's base name by default; for a JVM
 * the main class or the jar, so "java" does not name every service on the host. A configuration may
 * add rules; the first rule that matches names the process, and none matching falls back to the
 * default.
 *
 * <p>A rule matches when every matcher it has agrees: {@code comm} (one of these kernel command
 * names), {@code exe} (one of these executables, by base name or full path), {@code cmdline} (each
 * regex finds a match in the command line joined by spaces). Its {@code name} is a template with
 * process-exporter's placeholders: {@code {{.Comm}}}, {@code {{.ExeBase}}}, {@code {{.ExeFull}}},
 * {@code {{.Matches.GROUP}}} (named groups of the cmdline regexes; Go's {@code (?P<g>...)} syntax
 * is accepted) and {@code {{.Default}}}.
 */
public final class ProcessNames {
  private static final Pattern PLACEHOLDER =
      Pattern.compile("\\{\\{\\s*\\.(Comm|ExeBase|ExeFull|Default|Matches\\.(\\w+))\\s*}}");
  private static final Pattern GROUP_NAME = Pattern.compile("\\(\\?P?<([a-zA-Z][a-zA-Z0-9]*)>");

  /** One naming rule; empty matcher lists match anything. */
  public record Rule(String name, List<String> comm, List<String> exe, List<Pattern> cmdline) {
    public Rule {
      if (name == null || name.isBlank())
        throw new IllegalArgumentException("a naming rule needs a name template");
      Matcher m = PLACEHOLDER.matcher(name);
      Set<String> groups = new TreeSet<>();
      for (Pattern p : cmdline == null ? List.<Pattern>of() : cmdline) {
        Matcher g = GROUP_NAME.matcher(p.pattern());
        while (g.find()) groups.add(g.group(1));
      }
      while (m.find()) {
        if (m.group(2) != null && !groups.contains(m.group(2))) {
          throw new IllegalArgumentException(
              "name template '"
                  + name
                  + "' uses {{.Matches."
                  + m.group(2)
                  + "}} but no cmdline regex has a group of that name");
        }
      }
      comm = comm == null ? List.of() : List.copyOf(comm);
      exe = exe == null ? List.of() : List.copyOf(exe);
      cmdline = cmdline == null ? List.of() : List.copyOf(cmdline);
    }

    /** Compiles a cmdline regex, accepting Go's named-group syntax. */
    public static Pattern regex(String source) {
      return Pattern.compile(source.replace("(?P<", "(?<"));
    }
  }

  private final List<Rule> rules;

  public ProcessNames(List<Rule> rules) {
    this.rules = List.copyOf(rules);
  }

  public static final ProcessNames DEFAULT = new ProcessNames(List.of());

  /**
   * @param cmdline the process's arguments (argv)
   * @param comm the kernel's command name ({@code /proc/PID/comm}), or null when unknown
   */
  public String name(List<String> cmdline, String comm) {
    String exeFull = cmdline.isEmpty() ? "" : cmdline.get(0);
    String exeBase = baseName(exeFull);
    String kernelComm =
        comm != null ? comm : exeBase.length() > 15 ? exeBase.substring(0, 15) : exeBase;
    String joined = String.join(" ", cmdline);
    for (Rule r : rules) {
      if (!r.comm().isEmpty() && !r.comm().contains(kernelComm)) continue;
      if (!r.exe().isEmpty() && !r.exe().contains(exeBase) && !r.exe().contains(exeFull)) continue;
      Map<String, String> groups = new HashMap<>();
      boolean all = true;
      for (Pattern p : r.cmdline()) {
        Matcher m = p.matcher(joined);
        if (!m.find()) {
          all = false;
          break;
        }
        Matcher g = GROUP_NAME.matcher(p.pattern());
        while (g.find()) {
          String v = m.group(g.group(1));
          if (v != null) groups.put(g.group(1), v);
        }
      }
      if (!all) continue;
      Matcher m = PLACEHOLDER.matcher(r.name());
      StringBuilder out = new StringBuilder();
      while (m.find()) {
        String v =
            switch (m.group(1)) {
              case "Comm" -> kernelComm;
              case "ExeBase" -> exeBase;
              case "ExeFull" -> exeFull;
              case "Default" -> defaultName(cmdline);
              default -> groups.getOrDefault(m.group(2), "");
            };
        m.appendReplacement(out, Matcher.quoteReplacement(v));
      }
      m.appendTail(out);
      return sanitize(out.toString());
    }
    return defaultName(cmdline);
  }

  /** Without rules: the executable's base name, or a JVM's main class, module or jar. */
  public static String defaultName(List<String> cmdline) {
    if (cmdline.isEmpty()) return "unknown";
    String exe = baseName(cmdline.get(0));
    if (exe.equals("java") || exe.equals("javaw")) {
      for (int i = 1; i < cmdline.size(); i++) {
        String a = cmdline.get(i);
        if (a.equals("-jar") && i + 1 < cmdline.size())
          return sanitize(baseName(cmdline.get(i + 1)));
        if (a.equals("-cp")
            || a.equals("-classpath")
            || a.equals("--class-path")
            || a.equals("-p")
            || a.equals("--module-path")
            || a.equals("--add-opens")
            || a.equals("--add-exports")) {
          i++;
          continue;
        }
        if (a.equals("-m") || a.equals("--module"))
          return sanitize(i + 1 < cmdline.size() ? cmdline.get(i + 1) : exe);
        if (!a.startsWith("-")) return sanitize(a);
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

  /** The rules in order, for display. */
  public List<Rule> rules() {
    return new ArrayList<>(rules);
  }
}
