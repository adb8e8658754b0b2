package io.leakwatch.collector.proc;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Secrets out of command lines before they leave the host: a process's arguments go into its
 * ProcessStarted record and from there into every report, page and export, and command lines often
 * carry {@code --password=...}, tokens and connection strings with credentials. The environment is
 * never read at all.
 *
 * <p>The defaults replace with {@value #MASK}: the value of an option or {@code key=value} whose
 * key names a secret ({@code --password=x}, {@code -Ddb.password=x}, {@code token=x}, {@code
 * api_key=x}, ...), the argument after such an option given alone ({@code --password x}), and the
 * password of a URL ({@code scheme://user:x@host}). Configured patterns add to them (or replace
 * them): each match, or its group named {@code secret} when it has one, is masked.
 */
public final class CommandRedaction {
  public static final String MASK = "***";

  /** Words that make a key a secret's name. */
  private static final String SECRET_WORD =
      "(?:pass(?:word|wd|phrase)?|pwd|secret|token|api[-_.]?key|access[-_.]?key|private[-_.]?key|client[-_.]?secret"
          + "|credentials?|auth(?:orization)?|session[-_.]?key|cookie)";

  /** {@code key=value} (optionally after dashes) where the key names a secret: the value goes. */
  private static final Pattern KEY_VALUE =
      Pattern.compile("(?i)((?<![\\w.-])-{0,2}[\\w.-]*" + SECRET_WORD + "[\\w.-]*=)([^\\s&;,]+)");

  /** An option that names a secret and takes its value as the next argument. */
  private static final Pattern SECRET_OPTION =
      Pattern.compile("(?i)^-{1,2}[\\w.-]*" + SECRET_WORD + "[\\w.-]*$");

  /** The password of a URL's user information. */
  private static final Pattern URL_PASSWORD =
      Pattern.compile("(\\b[a-zA-Z][a-zA-Z0-9+.-]*://[^/\\s:@]*:)([^/\\s@]+)(@)");

  public static final CommandRedaction DEFAULT = new CommandRedaction(List.of(), true);
  public static final CommandRedaction NONE = new CommandRedaction(List.of(), false);

  private final List<Pattern> extra;
  private final boolean defaults;

  /**
   * @param extra patterns whose matches (or their group named {@code secret}) are masked
   * @param defaults whether the built-in rules apply too
   */
  public CommandRedaction(List<Pattern> extra, boolean defaults) {
    this.extra = List.copyOf(extra);
    this.defaults = defaults;
  }

  public List<Pattern> extra() {
    return extra;
  }

  public boolean defaults() {
    return defaults;
  }

  /** The arguments with every secret masked; one argument in, one out. */
  public List<String> redact(List<String> argv) {
    List<String> out = new ArrayList<>(argv.size());
    boolean maskNext = false;
    for (String arg : argv) {
      if (maskNext) {
        out.add(MASK);
        maskNext = false;
        continue;
      }
      String a = arg;
      if (defaults) {
        a = KEY_VALUE.matcher(a).replaceAll(m -> Matcher.quoteReplacement(m.group(1) + MASK));
        a =
            URL_PASSWORD
                .matcher(a)
                .replaceAll(m -> Matcher.quoteReplacement(m.group(1) + MASK + m.group(3)));
        maskNext = SECRET_OPTION.matcher(arg).matches();
      }
      for (Pattern p : extra) a = maskAll(p, a);
      out.add(a);
    }
    return out;
  }

  private static String maskAll(Pattern p, String s) {
    Matcher m = p.matcher(s);
    boolean named = p.pattern().contains("(?<secret>");
    StringBuilder b = new StringBuilder();
    int last = 0;
    while (m.find()) {
      int start = named ? m.start("secret") : m.start();
      int end = named ? m.end("secret") : m.end();
      if (start < 0 || end <= start) continue;
      b.append(s, last, start).append(MASK);
      last = end;
      if (m.end() == m.start()) break; // an empty match would loop
    }
    return b.append(s, last, s.length()).toString();
  }
}
