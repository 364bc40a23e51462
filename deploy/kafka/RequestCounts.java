// Prints, as one line of JSON, how many requests of each API the broker has handled since it
// started ({"Produce": 1234, "Fetch": 5678, ...}), read over JMX from its
// kafka.network:type=RequestMetrics,name=RequestsPerSec meters. Run with Java's single-file source
// launch against a broker started with a loopback JMX port (the devstack's `jmxPort`, used by the
// pipeline benchmark): java deploy/kafka/RequestCounts.java <jmx port>
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import javax.management.MBeanServerConnection;
import javax.management.ObjectName;
import javax.management.remote.JMXConnector;
import javax.management.remote.JMXConnectorFactory;
import javax.management.remote.JMXServiceURL;

public class RequestCounts {
  public static void main(String[] args) throws Exception {
    if (args.length != 1) {
      System.err.println("usage: java RequestCounts.java <jmx port>");
      System.exit(2);
    }
    int port = Integer.parseInt(args[0]);
    JMXServiceURL url = new JMXServiceURL("service:jmx:rmi:///jndi/rmi://127.0.0.1:" + port + "/jmxrmi");
    try (JMXConnector connector = JMXConnectorFactory.connect(url)) {
      MBeanServerConnection server = connector.getMBeanServerConnection();
      Set<ObjectName> names = server.queryNames(new ObjectName("kafka.network:type=RequestMetrics,name=RequestsPerSec,*"), null);
      Map<String, Long> counts = new TreeMap<>();
      for (ObjectName name : names) {
        String request = name.getKeyProperty("request");
        Object count = server.getAttribute(name, "Count");
        if (request != null && count instanceof Number) counts.merge(request, ((Number) count).longValue(), Long::sum);
      }
      StringBuilder json = new StringBuilder("{");
      for (Map.Entry<String, Long> entry : counts.entrySet()) {
        if (json.length() > 1) json.append(',');
        json.append('"').append(entry.getKey()).append("\":").append(entry.getValue());
      }
      System.out.println(json.append('}'));
    }
  }
}
