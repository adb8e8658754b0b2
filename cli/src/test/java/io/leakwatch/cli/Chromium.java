package io.leakwatch.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.WebSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Headless Chromium driven over the DevTools protocol (a WebSocket, the JDK's own client): load a
 * page, evaluate JavaScript in it, click, take screenshots, and collect what a user would never see
 * but a test must: console errors, uncaught exceptions, CSP violations and JavaScript dialogs.
 */
final class Chromium implements AutoCloseable {
  private static final ObjectMapper JSON = new ObjectMapper();

  private final Process process;
  private final Path profile;
  private final WebSocket socket;
  private final AtomicInteger ids = new AtomicInteger();
  private final Map<Integer, CompletableFuture<JsonNode>> pending = new ConcurrentHashMap<>();
  private final List<String> problems = new CopyOnWriteArrayList<>();
  private final List<String> dialogs = new CopyOnWriteArrayList<>();
  private volatile CompletableFuture<Void> loaded = new CompletableFuture<>();

  static String binary() {
    for (String b :
        new String[] {"/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"}) {
      if (Files.isExecutable(Path.of(b))) return b;
    }
    throw new IllegalStateException("no Chromium: apt-get install chromium (.ci/run installs it)");
  }

  Chromium() throws Exception {
    this(List.of());
  }

  /**
   * @param flags more command-line flags (the key of a test server's certificate to trust, for one)
   */
  Chromium(List<String> flags) throws Exception {
    profile = Files.createTempDirectory("leakwatch-chromium-");
    List<String> cmd = new ArrayList<>();
    cmd.add(binary());
    cmd.addAll(flags);
    cmd.addAll(
        List.of(
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-default-browser-check",
            "--window-size=1400,1800",
            "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0",
            "--user-data-dir=" + profile,
            "about:blank"));
    process = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    BufferedReader out = new BufferedReader(new InputStreamReader(process.getInputStream()));
    String line;
    String browserWs = null;
    Pattern p = Pattern.compile("DevTools listening on (ws://\\S+)");
    long deadline = System.currentTimeMillis() + 30_000;
    while (browserWs == null
        && (line = out.readLine()) != null
        && System.currentTimeMillis() < deadline) {
      Matcher m = p.matcher(line);
      if (m.find()) browserWs = m.group(1);
    }
    if (browserWs == null) throw new IllegalStateException("Chromium did not start");
    Thread drain =
        new Thread(
            () -> {
              try {
                while (out.readLine() != null) {
                  // keep the pipe from filling
                }
              } catch (IOException ignored) {
                // closed
              }
            });
    drain.setDaemon(true);
    drain.start();
    URI ws = URI.create(browserWs);
    HttpClient http = HttpClient.newHttpClient();
    String list =
        http.send(
                HttpRequest.newBuilder(
                        URI.create("http://" + ws.getHost() + ":" + ws.getPort() + "/json/list"))
                    .build(),
                HttpResponse.BodyHandlers.ofString())
            .body();
    String pageWs = null;
    for (JsonNode t : JSON.readTree(list))
      if (t.path("type").asText().equals("page")) pageWs = t.path("webSocketDebuggerUrl").asText();
    if (pageWs == null) throw new IllegalStateException("no page target: " + list);
    socket =
        http.newWebSocketBuilder()
            .buildAsync(URI.create(pageWs), new Listener())
            .get(30, TimeUnit.SECONDS);
    call("Page.enable", null);
    call("Runtime.enable", null);
    call("Log.enable", null);
  }

  private final class Listener implements WebSocket.Listener {
    private final StringBuilder partial = new StringBuilder();

    @Override
    public CompletionStage<?> onText(WebSocket ws, CharSequence data, boolean last) {
      partial.append(data);
      if (last) {
        try {
          handle(JSON.readTree(partial.toString()));
        } catch (IOException e) {
          problems.add("unreadable DevTools message: " + e);
        }
        partial.setLength(0);
      }
      ws.request(1);
      return null;
    }
  }

  private void handle(JsonNode m) {
    if (m.has("id")) {
      CompletableFuture<JsonNode> f = pending.remove(m.get("id").asInt());
      if (f != null) f.complete(m);
      return;
    }
    String method = m.path("method").asText();
    JsonNode params = m.path("params");
    switch (method) {
      case "Page.loadEventFired" -> loaded.complete(null);
      case "Runtime.exceptionThrown" ->
          problems.add("exception: " + params.path("exceptionDetails").toString());
      case "Runtime.consoleAPICalled" -> {
        String type = params.path("type").asText();
        if (type.equals("error") || type.equals("assert"))
          problems.add("console." + type + ": " + params.path("args").toString());
      }
      case "Log.entryAdded" -> {
        JsonNode e = params.path("entry");
        if (e.path("level").asText().equals("error"))
          problems.add("log: " + e.path("text").asText() + " " + e.path("url").asText());
      }
      case "Page.javascriptDialogOpening" -> {
        dialogs.add(params.path("message").asText());
        ObjectNode accept = JSON.createObjectNode().put("accept", true);
        send("Page.handleJavaScriptDialog", accept);
      }
      default -> {
        // other events are not needed
      }
    }
  }

  private CompletableFuture<JsonNode> send(String method, ObjectNode params) {
    int id = ids.incrementAndGet();
    CompletableFuture<JsonNode> f = new CompletableFuture<>();
    pending.put(id, f);
    ObjectNode msg = JSON.createObjectNode().put("id", id).put("method", method);
    if (params != null) msg.set("params", params);
    socket.sendText(msg.toString(), true);
    return f;
  }

  JsonNode call(String method, ObjectNode params) throws Exception {
    JsonNode r = send(method, params).get(60, TimeUnit.SECONDS);
    if (r.has("error")) throw new IllegalStateException(method + ": " + r.get("error"));
    return r.path("result");
  }

  /**
   * Navigates and waits for the load event; problems and dialogs are collected afresh for the new
   * page.
   */
  void open(String url) throws Exception {
    problems.clear();
    dialogs.clear();
    loaded = new CompletableFuture<>();
    call("Page.navigate", JSON.createObjectNode().put("url", url));
    loaded.get(60, TimeUnit.SECONDS);
  }

  /** Sends these headers with every request of the page from now on (basic auth, for one). */
  void headers(Map<String, String> headers) throws Exception {
    call("Network.enable", null);
    var h = JSON.createObjectNode();
    headers.forEach(h::put);
    call("Network.setExtraHTTPHeaders", JSON.createObjectNode().set("headers", h));
  }

  /** Evaluates an expression in the page; returns its value (JSON). */
  JsonNode eval(String expression) throws Exception {
    JsonNode r =
        call(
            "Runtime.evaluate",
            JSON.createObjectNode()
                .put("expression", expression)
                .put("returnByValue", true)
                .put("awaitPromise", true));
    if (r.has("exceptionDetails"))
      throw new IllegalStateException("evaluation failed: " + r.get("exceptionDetails"));
    return r.path("result").path("value");
  }

  /** Saves a full-page PNG. */
  void screenshot(Path file) throws Exception {
    JsonNode r =
        call(
            "Page.captureScreenshot",
            JSON.createObjectNode().put("format", "png").put("captureBeyondViewport", true));
    Files.createDirectories(file.getParent());
    Files.write(file, Base64.getDecoder().decode(r.path("data").asText()));
  }

  /**
   * Console errors, uncaught exceptions and error log entries (CSP violations among them) so far.
   */
  List<String> problems() {
    return new ArrayList<>(problems);
  }

  /** alert(), confirm() and prompt() messages: a page showing names as text never opens one. */
  List<String> dialogs() {
    return new ArrayList<>(dialogs);
  }

  @Override
  public void close() {
    try {
      socket.abort();
    } catch (RuntimeException ignored) {
      // already gone
    }
    process.destroyForcibly();
    try {
      process.waitFor(10, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    LocalStack.delete(profile);
  }
}
