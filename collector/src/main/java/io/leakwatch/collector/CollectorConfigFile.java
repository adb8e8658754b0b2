package io.leakwatch.collector;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import io.leakwatch.collector.proc.CommandRedaction;
import io.leakwatch.collector.proc.ProcessNames;
import io.leakwatch.collector.symbols.Debuginfod;
import io.leakwatch.collector.symbols.SourceLines;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * The collector's YAML configuration file ({@code --config FILE}); docs/collector.example.yml shows
 * every key. Unknown keys are errors: a misspelt setting silently ignored on a thousand hosts is
 * worse than a collector that refuses to start and says why.
 */
public final class CollectorConfigFile {
  private static final Set<String> TOP =
      Set.of(
          "host",
          "runDir",
          "http",
          "kafka",
          "intervals",
          "limits",
          "process_names",
          "symbols",
          "redact");
  private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());

  private CollectorConfigFile() {}

  /**
   * Reads {@code file} on top of {@code base}; a malformed file is an {@link
   * IllegalArgumentException} naming the problem.
   */
  public static CollectorConfig load(Path file, CollectorConfig base) {
    String text;
    try {
      text = Files.readString(file);
    } catch (IOException e) {
      throw new IllegalArgumentException("cannot read config " + file + ": " + e.getMessage(), e);
    }
    try {
      return parse(text, base);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(file + ": " + e.getMessage(), e);
    }
  }

  static CollectorConfig parse(String text, CollectorConfig base) {
    JsonNode root;
    try {
      root = YAML.readTree(text);
    } catch (JsonProcessingException e) {
      throw new IllegalArgumentException("not valid YAML: " + e.getOriginalMessage());
    } catch (IOException | RuntimeException e) {
      // snakeyaml reports some malformed input (bad code points, nesting limits) as runtime errors
      throw new IllegalArgumentException("not valid YAML: " + e.getMessage());
    }
    if (root == null || root.isMissingNode() || root.isNull()) return base;
    if (!root.isObject()) throw new IllegalArgumentException("the top level must be a mapping");
    onlyKeys(root, TOP, "");
    CollectorConfig c = base;
    if (root.has("host")) c = c.withHost(text(root, "host"));
    if (root.has("runDir")) c = c.withRunDir(Path.of(text(root, "runDir")));
    if (root.has("http")) {
      JsonNode http = object(root, "http");
      onlyKeys(http, Set.of("bind", "port", "webConfig"), "http.");
      if (http.has("bind")) c = c.withHttpBind(text(http, "bind"));
      if (http.has("webConfig"))
        c = c.withWebConfig(Path.of(text(http, "webConfig")).toAbsolutePath());
      if (http.has("port")) c = c.withHttpPort((int) number(http, "port", 0, 65535));
    }
    if (root.has("kafka")) {
      Map<String, Object> kafka = new LinkedHashMap<>(c.kafka());
      JsonNode k = object(root, "kafka");
      for (Iterator<Map.Entry<String, JsonNode>> it = k.fields(); it.hasNext(); ) {
        Map.Entry<String, JsonNode> e = it.next();
        if (!e.getValue().isValueNode() || e.getValue().isNull()) {
          throw new IllegalArgumentException(
              "kafka."
                  + e.getKey()
                  + " must be a plain value (Kafka client settings pass through as strings)");
        }
        kafka.put(e.getKey(), e.getValue().asText());
      }
      c = c.withKafka(kafka);
    }
    long poll = c.pollIntervalMs();
    long counters = c.counterIntervalMs();
    int batch = c.maxBatchEvents();
    int stacks = c.maxStacksRemembered();
    if (root.has("intervals")) {
      JsonNode i = object(root, "intervals");
      onlyKeys(i, Set.of("pollMs", "countersMs", "pairGraceMs"), "intervals.");
      if (i.has("pollMs")) poll = number(i, "pollMs", 10, 10_000);
      if (i.has("countersMs")) counters = number(i, "countersMs", 500, 3_600_000);
      if (i.has("pairGraceMs")) c = c.withPairGraceMs(number(i, "pairGraceMs", 0, 60_000));
    }
    if (root.has("limits")) {
      JsonNode l = object(root, "limits");
      onlyKeys(l, Set.of("maxBatchEvents", "maxStacksRemembered"), "limits.");
      if (l.has("maxBatchEvents")) batch = (int) number(l, "maxBatchEvents", 100, 1_000_000);
      if (l.has("maxStacksRemembered"))
        stacks = (int) number(l, "maxStacksRemembered", 1_000, 10_000_000);
    }
    c = c.withIntervals(poll, counters, batch, stacks);
    if (root.has("symbols")) {
      JsonNode sy = object(root, "symbols");
      onlyKeys(
          sy,
          Set.of(
              "jvmPerfMaps",
              "lines",
              "symbolizer",
              "debuginfodUrls",
              "debuginfodCache",
              "debuginfodTimeoutMs",
              "debuginfodMaxMiB"),
          "symbols.");
      if (sy.has("jvmPerfMaps")) c = c.withJvmPerfMaps(bool(sy, "jvmPerfMaps", "symbols."));
      c = c.withSourceLines(sourceLines(sy, c.sourceLines()));
    }
    if (root.has("process_names")) c = c.withNames(names(root.get("process_names")));
    if (root.has("redact")) c = c.withRedaction(redaction(object(root, "redact")));
    return c;
  }

  /**
   * {@code symbols: {lines, symbolizer, debuginfodUrls: [...], debuginfodCache,
   * debuginfodTimeoutMs, debuginfodMaxMiB}}: file and line resolution ({@code lines: false} turns
   * it off).
   */
  private static SourceLines.Options sourceLines(JsonNode sy, SourceLines.Options lines) {
    if (sy.has("symbolizer")) lines = lines.withSymbolizer(text(sy, "symbolizer", "symbols."));
    if (sy.has("lines") && !bool(sy, "lines", "symbols.")) lines = lines.withSymbolizer(null);
    Debuginfod.Options d = lines.debuginfod();
    if (sy.has("debuginfodUrls")) {
      List<URI> urls = new ArrayList<>();
      for (String u : strings(sy, "debuginfodUrls", "symbols.")) {
        try {
          urls.addAll(Debuginfod.Options.parseUrls(u));
        } catch (IllegalArgumentException e) {
          throw new IllegalArgumentException("symbols.debuginfodUrls: " + e.getMessage());
        }
      }
      d = d.withServers(urls);
    }
    if (sy.has("debuginfodCache"))
      d = d.withCacheDir(Path.of(text(sy, "debuginfodCache", "symbols.")));
    Duration timeout = d.timeout();
    long max = d.maxBytes();
    if (sy.has("debuginfodTimeoutMs"))
      timeout = Duration.ofMillis(number(sy, "debuginfodTimeoutMs", 100, 3_600_000));
    if (sy.has("debuginfodMaxMiB")) max = number(sy, "debuginfodMaxMiB", 1, 65_536) << 20;
    return lines.withDebuginfod(d.withLimits(timeout, max));
  }

  private static boolean bool(JsonNode node, String key, String prefix) {
    if (!node.get(key).isBoolean())
      throw new IllegalArgumentException(prefix + key + " must be true or false");
    return node.get(key).asBoolean();
  }

  private static String text(JsonNode node, String key, String prefix) {
    if (!node.get(key).isTextual() || node.get(key).asText().isBlank())
      throw new IllegalArgumentException(prefix + key + " must be a non-empty string");
    return node.get(key).asText();
  }

  /** {@code redact: {patterns: [regex, ...], defaults: true}}: what to mask in command lines. */
  private static CommandRedaction redaction(JsonNode r) {
    onlyKeys(r, Set.of("patterns", "defaults"), "redact.");
    boolean defaults = true;
    if (r.has("defaults")) {
      if (!r.get("defaults").isBoolean())
        throw new IllegalArgumentException("redact.defaults must be true or false");
      defaults = r.get("defaults").asBoolean();
    }
    List<Pattern> patterns = new ArrayList<>();
    for (String s : strings(r, "patterns", "redact.")) {
      try {
        patterns.add(Pattern.compile(s));
      } catch (PatternSyntaxException e) {
        throw new IllegalArgumentException(
            "redact.patterns: bad regex '" + s + "': " + e.getDescription());
      }
    }
    return new CommandRedaction(patterns, defaults);
  }

  private static ProcessNames names(JsonNode list) {
    if (!list.isArray())
      throw new IllegalArgumentException("process_names must be a list of rules");
    List<ProcessNames.Rule> rules = new ArrayList<>();
    int n = 0;
    for (JsonNode r : list) {
      String where = "process_names[" + n++ + "].";
      if (!r.isObject()) throw new IllegalArgumentException(where + " must be a mapping");
      onlyKeys(r, Set.of("name", "comm", "exe", "cmdline"), where);
      List<Pattern> regexes = new ArrayList<>();
      for (String s : strings(r, "cmdline", where)) {
        try {
          regexes.add(ProcessNames.Rule.regex(s));
        } catch (PatternSyntaxException e) {
          throw new IllegalArgumentException(
              where + "cmdline: bad regex '" + s + "': " + e.getDescription());
        }
      }
      try {
        rules.add(
            new ProcessNames.Rule(
                r.has("name") ? text(r, "name") : null,
                strings(r, "comm", where),
                strings(r, "exe", where),
                regexes));
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException(where + " " + e.getMessage());
      }
    }
    return new ProcessNames(rules);
  }

  private static void onlyKeys(JsonNode node, Set<String> allowed, String prefix) {
    for (Iterator<String> it = node.fieldNames(); it.hasNext(); ) {
      String k = it.next();
      if (!allowed.contains(k)) {
        throw new IllegalArgumentException(
            "unknown setting '"
                + prefix
                + k
                + "' (known: "
                + String.join(", ", new TreeSet<>(allowed))
                + ")");
      }
    }
  }

  private static JsonNode object(JsonNode parent, String key) {
    JsonNode n = parent.get(key);
    if (!n.isObject()) throw new IllegalArgumentException(key + " must be a mapping");
    return n;
  }

  private static String text(JsonNode parent, String key) {
    JsonNode n = parent.get(key);
    if (n == null || !n.isValueNode() || n.isNull() || n.asText().isBlank()) {
      throw new IllegalArgumentException(key + " must be a non-empty string");
    }
    return n.asText();
  }

  private static long number(JsonNode parent, String key, long min, long max) {
    JsonNode n = parent.get(key);
    if (n == null || !n.canConvertToLong())
      throw new IllegalArgumentException(key + " must be a whole number");
    long v = n.asLong();
    if (v < min || v > max)
      throw new IllegalArgumentException(
          key + " must be between " + min + " and " + max + ", not " + v);
    return v;
  }

  private static List<String> strings(JsonNode parent, String key, String where) {
    JsonNode n = parent.get(key);
    if (n == null) return List.of();
    List<String> out = new ArrayList<>();
    if (n.isValueNode() && !n.isNull()) {
      out.add(n.asText());
    } else if (n.isArray()) {
      for (JsonNode e : n) {
        if (!e.isValueNode() || e.isNull())
          throw new IllegalArgumentException(where + key + " entries must be strings");
        out.add(e.asText());
      }
    } else {
      throw new IllegalArgumentException(where + key + " must be a string or a list of strings");
    }
    return out;
  }
}
