package io.leakwatch.cli;

import java.io.PrintWriter;
import java.net.BindException;
import java.net.ConnectException;
import java.net.UnknownHostException;
import java.net.http.HttpConnectTimeoutException;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import picocli.CommandLine;
import picocli.CommandLine.IExecutionExceptionHandler;
import picocli.CommandLine.IParameterExceptionHandler;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.ParseResult;

/**
 * Mistakes and failures as a Unix tool reports them: one line saying what went wrong, one line of
 * hint, and an exit status that tells the cases apart (scripts and service managers read it). A
 * Java stack trace only with LEAKWATCH_DEBUG=1.
 */
final class CliErrors implements IExecutionExceptionHandler, IParameterExceptionHandler {
  /** Something else failed. */
  static final int FAILED = 1;

  /** A command or option it does not know, or a value it cannot take. */
  static final int USAGE = 2;

  /**
   * Nothing answers where it was told to connect (a streams-app at --url, a broker at --bootstrap).
   */
  static final int UNREACHABLE = 3;

  /** An address to listen on is taken. */
  static final int PORT_TAKEN = 4;

  /** A file or directory it may not use (the run directory, a state directory, an output file). */
  static final int NO_PERMISSION = 5;

  private static final CliErrors INSTANCE = new CliErrors();

  private CliErrors() {}

  static CommandLine install(CommandLine cl) {
    cl.setExecutionExceptionHandler(INSTANCE);
    cl.setParameterExceptionHandler(INSTANCE);
    return cl;
  }

  @Override
  public int handleParseException(ParameterException ex, String[] args) {
    CommandLine cl = ex.getCommandLine();
    PrintWriter err = cl.getErr();
    err.println(cl.getCommandSpec().qualifiedName() + ": " + ex.getMessage());
    if (!CommandLine.UnmatchedArgumentException.printSuggestions(ex, err)) {
      err.println(
          "Try '" + cl.getCommandSpec().qualifiedName() + " --help' for the commands and options.");
    }
    err.flush();
    return USAGE;
  }

  @Override
  public int handleExecutionException(Exception ex, CommandLine cl, ParseResult parsed) {
    PrintWriter err = cl.getErr();
    String who = cl.getCommandSpec().qualifiedName();
    Failure f = classify(ex, parsed);
    err.println(who + ": " + f.what());
    err.println(f.hint());
    if (System.getenv("LEAKWATCH_DEBUG") != null) ex.printStackTrace(err);
    err.flush();
    return f.status();
  }

  record Failure(int status, String what, String hint) {}

  static Failure classify(Throwable ex, ParseResult parsed) {
    for (Throwable t = ex; t != null; t = t.getCause()) {
      if (t instanceof BindException) {
        return new Failure(
            PORT_TAKEN,
            "cannot listen: " + messageOf(ex, t),
            "Another program (or another leakwatch) listens there; choose a free port with --http-port.");
      }
      if (t instanceof ConnectException
          || t instanceof HttpConnectTimeoutException
          || t instanceof UnknownHostException) {
        String url = optionValue(parsed, "--url");
        String bootstrap = optionValue(parsed, "--bootstrap");
        String where = url != null ? url : bootstrap != null ? bootstrap : "the address given";
        return new Failure(
            UNREACHABLE,
            "nothing answers at "
                + where
                + " ("
                + t.getClass().getSimpleName()
                + (t.getMessage() != null ? ": " + t.getMessage() : "")
                + ")",
            url != null
                ? "Is a streams-app running there? Start one with './leakwatch streams' or point --url at it."
                : "Is the service running and reachable from here?");
      }
      if (t instanceof AccessDeniedException a) {
        return new Failure(
            NO_PERMISSION,
            "no permission to use " + a.getFile(),
            "Run as a user who owns it, or choose another directory (--run-dir, --state-dir, -o).");
      }
      if (t instanceof FileSystemException fs && fs.getReason() != null) {
        return new Failure(
            NO_PERMISSION,
            fs.getFile() + ": " + fs.getReason(),
            "Check the path, its owner and its permissions.");
      }
    }
    if (ex instanceof IllegalArgumentException) {
      return new Failure(USAGE, ex.getMessage(), "Try '--help' for the options and their values.");
    }
    return new Failure(
        FAILED, messageOf(ex, ex), "Run with LEAKWATCH_DEBUG=1 for the Java stack trace.");
  }

  /** The outermost message that says something, with the innermost cause's if different. */
  private static String messageOf(Throwable outer, Throwable inner) {
    String o = outer.getMessage(), i = inner.getMessage();
    if (o == null || o.isBlank()) return i != null ? i : inner.getClass().getSimpleName();
    if (i == null || o.contains(i)) return o;
    return o + ": " + i;
  }

  private static String optionValue(ParseResult parsed, String name) {
    for (ParseResult p = parsed; p != null; p = p.subcommand()) {
      if (p.hasMatchedOption(name))
        return p.matchedOptionValue(name, (Object) null) == null
            ? null
            : p.matchedOptionValue(name, (Object) null).toString();
      var spec = p.commandSpec().findOption(name);
      if (p.subcommand() == null && spec != null && spec.getValue() != null)
        return spec.getValue().toString();
    }
    return null;
  }
}
