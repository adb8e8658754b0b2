package io.leakwatch.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Hosts on one machine: a network namespace per host with its own address on a bridge ({@code ip
 * netns}, a veth pair each), and a UTS namespace per process so each host has its own name. A host
 * is cut off by taking its link down (its connections stall, as across a real partition; nothing is
 * reset) and reconnected by bringing it up. Needs root (CAP_NET_ADMIN).
 */
final class FleetNetwork implements AutoCloseable {
  static final String BRIDGE = "lwfleet0";
  static final String GATEWAY = "10.77.0.1";
  private static final String PREFIX = "lwf-";
  private static final java.nio.file.Path BRIDGE_NF =
      java.nio.file.Path.of("/proc/sys/net/bridge/bridge-nf-call-iptables");

  private final Map<String, String> addresses = new LinkedHashMap<>();

  private FleetNetwork() {}

  /** hostName -> last octet of 10.77.0.x */
  static FleetNetwork create(Map<String, Integer> hosts) throws Exception {
    cleanUp();
    FleetNetwork n = new FleetNetwork();
    run("ip", "link", "add", BRIDGE, "type", "bridge");
    run("ip", "addr", "add", GATEWAY + "/24", "dev", BRIDGE);
    run("ip", "link", "set", BRIDGE, "up");
    // Where bridged traffic passes iptables (br_netfilter, as Docker sets it up, with FORWARD
    // dropping), let the bridge's own traffic through; removed again by cleanUp.
    if (Files.exists(BRIDGE_NF) && Files.readString(BRIDGE_NF).trim().equals("1")) {
      run("iptables", "-I", "FORWARD", "-i", BRIDGE, "-o", BRIDGE, "-j", "ACCEPT");
    }
    for (var e : hosts.entrySet()) {
      String host = e.getKey(),
          ns = PREFIX + host,
          outside = "lwv-" + host,
          address = "10.77.0." + e.getValue();
      run("ip", "netns", "add", ns);
      run("ip", "link", "add", outside, "type", "veth", "peer", "name", "eth0", "netns", ns);
      run("ip", "link", "set", outside, "master", BRIDGE);
      run("ip", "link", "set", outside, "up");
      run("ip", "-n", ns, "addr", "add", address + "/24", "dev", "eth0");
      run("ip", "-n", ns, "link", "set", "eth0", "up");
      run("ip", "-n", ns, "link", "set", "lo", "up");
      n.addresses.put(host, address);
    }
    return n;
  }

  String address(String host) {
    return addresses.get(host);
  }

  /** The words that run a command as a process of {@code host}: its network, its host name. */
  List<String> on(String host) {
    return List.of(
        "ip",
        "netns",
        "exec",
        PREFIX + host,
        "unshare",
        "--uts",
        "--",
        "sh",
        "-c",
        "hostname " + host + " && exec \"$0\" \"$@\"");
  }

  ProcessBuilder process(String host, List<String> command) {
    List<String> all = new ArrayList<>(on(host));
    all.addAll(command);
    return new ProcessBuilder(all);
  }

  void cut(String host) throws Exception {
    run("ip", "link", "set", "lwv-" + host, "down");
  }

  void reconnect(String host) throws Exception {
    run("ip", "link", "set", "lwv-" + host, "up");
  }

  private static void run(String... command) throws Exception {
    Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes());
    if (!p.waitFor(30, TimeUnit.SECONDS) || p.exitValue() != 0) {
      throw new IllegalStateException(String.join(" ", command) + " failed: " + out.trim());
    }
  }

  /**
   * Removes what a run (this one or an interrupted earlier one) left: processes still inside a host
   * (a namespace lives on while one does), links, namespaces, the bridge and its iptables rule.
   */
  static void cleanUp() throws IOException, InterruptedException {
    for (String ns : output("ip", "netns", "list").split("\n")) {
      ns = ns.split(" ")[0].trim();
      if (!ns.startsWith(PREFIX)) continue;
      for (String pid : output("ip", "netns", "pids", ns).split("\s+")) {
        if (!pid.isBlank()) quiet("kill", "-KILL", pid.trim());
      }
      quiet("ip", "link", "delete", "lwv-" + ns.substring(PREFIX.length()));
      quiet("ip", "netns", "delete", ns);
    }
    quiet("ip", "link", "delete", BRIDGE);
    if (Files.exists(BRIDGE_NF))
      quiet("iptables", "-D", "FORWARD", "-i", BRIDGE, "-o", BRIDGE, "-j", "ACCEPT");
    // Namespace teardown finishes asynchronously: wait until the links are gone.
    for (int i = 0; i < 50 && output("ip", "-o", "link").contains("lwv-"); i++) Thread.sleep(100);
  }

  private static String output(String... command) throws IOException, InterruptedException {
    Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes());
    p.waitFor();
    return out;
  }

  private static void quiet(String... command) throws IOException, InterruptedException {
    output(command);
  }

  @Override
  public void close() throws Exception {
    cleanUp();
  }
}
