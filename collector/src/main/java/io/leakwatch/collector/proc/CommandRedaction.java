package io.leakwatch.collector.proc;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
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

  /** An option naming a secret with its value in the same argument: all of the value goes. */
  private static final Pattern SECRET_OPTION_VALUE =
      Pattern.compile("(?i)^(-{1,2}[\\w.-]*" + SECRET_WORD + "[\\w.-]*=)(.+)$");

  /** Options that name a secret word but do not take one (--password-stdin, --auth-type). */
  private static final Pattern NOT_A_SECRET_OPTION =
      Pattern.compile("(?i)^-.*[-_](stdin|file|type|method|mode)$");

  /** Headers that carry credentials, as curl -H and wget --header take them. */
  private static final Pattern SECRET_HEADER =
      Pattern.compile(
          "(?i)^((?:proxy-)?authorization|cookie|x-[\\w-]*(?:key|token|secret|auth)[\\w-]*)(\\s*:\\s*)(.+)$");

  /** user:password@host without a scheme (scp, rsync, mysql URIs written short). */
  private static final Pattern USER_PASSWORD_AT =
      Pattern.compile("(?<![\\w/:])([\\w.-]+:)([^\\s@/]+)@(?=[\\w.-])");

  /** An option that names a secret and takes its value as the next argument. */
  private static final Pattern SECRET_OPTION =
      Pattern.compile("(?i)^-{1,2}[\\w.-]*" + SECRET_WORD + "[\\w.-]*$");

  /** The password of a URL's user information. */
  private static final Pattern URL_PASSWORD =
      Pattern.compile("(\\b[a-zA-Z][a-zA-Z0-9+.-]*://[^/\\s:@]*:)(\\S+)(@)(?=[^@]*$)");

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

  /** Programs whose short option takes a secret as the next argument. */
  private static final Map<String, String> SECRET_SHORT_OPTION =
      Map.of("redis-cli", "-a", "sshpass", "-p", "openssl", "-k");

  /** Programs whose -p takes a password glued to it (-psecret). */
  private static final Set<String> GLUED_PASSWORD =
      Set.of("mysql", "mysqldump", "mysqladmin", "mariadb", "mysqlimport");

  /** The arguments with every secret masked; one argument in, one out. */
  public List<String> redact(List<String> argv) {
    List<String> out = new ArrayList<>(argv.size());
    String program = argv.isEmpty() ? "" : argv.get(0).substring(argv.get(0).lastIndexOf('/') + 1);
    boolean maskNext = false, userNext = false;
    for (int i = 0; i < argv.size(); i++) {
      String arg = argv.get(i);
      if (maskNext) {
        out.add(MASK);
        maskNext = false;
        continue;
      }
      String a = arg;
      if (defaults) {
        if (userNext) {
          int colon = a.indexOf(':'); // curl -u user:password
          if (colon >= 0) a = a.substring(0, colon + 1) + MASK;
          userNext = false;
        }
        Matcher whole = SECRET_OPTION_VALUE.matcher(a);
        Matcher header = SECRET_HEADER.matcher(a);
        if (whole.matches()) {
          a = whole.group(1) + MASK;
        } else if (header.matches()) {
          a = header.group(1) + header.group(2) + MASK;
        } else if (i > 0
            && GLUED_PASSWORD.contains(program)
            && a.startsWith("-p")
            && a.length() > 2) {
          a = "-p" + MASK;
        } else {
          a = KEY_VALUE.matcher(a).replaceAll(m -> Matcher.quoteReplacement(m.group(1) + MASK));
          a =
              URL_PASSWORD
                  .matcher(a)
                  .replaceAll(m -> Matcher.quoteReplacement(m.group(1) + MASK + m.group(3)));
          a =
              USER_PASSWORD_AT
                  .matcher(a)
                  .replaceAll(m -> Matcher.quoteReplacement(m.group(1) + MASK + "@"));
        }
        maskNext =
            (SECRET_OPTION.matcher(arg).matches() && !NOT_A_SECRET_OPTION.matcher(arg).matches())
                || arg.equals(SECRET_SHORT_OPTION.get(program));
        userNext = arg.equals("-u") || arg.equals("--user") || arg.equals("--proxy-user");
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
