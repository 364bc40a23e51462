// Applies Writ's Kafka security plan to a broker: SCRAM credentials of the service principals and
// the ACL table (deploy/kafka/acls.json, turned into the plan by libs/devstack/src/security.ts).
// The Node client (librdkafka) exposes neither ACLs nor SCRAM credentials in its admin API, so
// this runs once per plan change on the JVM that is here anyway, with Kafka's own Admin client:
//   java -cp '<kafka libs>/*' deploy/kafka/ProvisionSecurity.java <plan file>
// Plan lines (space-separated; passwords stay in their files):
//   bootstrap <host:port>
//   admin <PLAIN user> <password file>
//   user <SCRAM-SHA-512 user> <password file>
//   acl <principal> <TOPIC|GROUP|TRANSACTIONAL_ID|CLUSTER> <LITERAL|PREFIXED> <name> <operation>
// ACLs of the planned principals that the plan does not list are deleted: the table is the truth.
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Properties;
import java.util.Set;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.ScramCredentialInfo;
import org.apache.kafka.clients.admin.ScramMechanism;
import org.apache.kafka.clients.admin.UserScramCredentialAlteration;
import org.apache.kafka.clients.admin.UserScramCredentialUpsertion;
import org.apache.kafka.common.acl.AccessControlEntry;
import org.apache.kafka.common.acl.AccessControlEntryFilter;
import org.apache.kafka.common.acl.AclBinding;
import org.apache.kafka.common.acl.AclBindingFilter;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.acl.AclPermissionType;
import org.apache.kafka.common.resource.PatternType;
import org.apache.kafka.common.resource.ResourcePattern;
import org.apache.kafka.common.resource.ResourcePatternFilter;
import org.apache.kafka.common.resource.ResourceType;

public class ProvisionSecurity {
  public static void main(String[] args) throws Exception {
    if (args.length != 1) {
      System.err.println("usage: ProvisionSecurity <plan file>");
      System.exit(2);
    }
    String bootstrap = null;
    String adminUser = null;
    String adminPassword = null;
    List<UserScramCredentialAlteration> users = new ArrayList<>();
    Set<AclBinding> wanted = new HashSet<>();
    Set<String> principals = new HashSet<>();
    for (String line : Files.readAllLines(Path.of(args[0]), StandardCharsets.UTF_8)) {
      String[] f = line.trim().split(" ");
      if (f.length == 0 || f[0].isEmpty() || f[0].startsWith("#")) continue;
      switch (f[0]) {
        case "bootstrap" -> bootstrap = f[1];
        case "admin" -> {
          adminUser = f[1];
          adminPassword = readSecret(f[2]);
        }
        case "user" -> users.add(new UserScramCredentialUpsertion(
            f[1], new ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 4096), readSecret(f[2])));
        case "acl" -> {
          principals.add(f[1]);
          ResourcePattern pattern = new ResourcePattern(ResourceType.valueOf(f[2]), f[4], PatternType.valueOf(f[3]));
          wanted.add(new AclBinding(pattern, new AccessControlEntry(f[1], "*", AclOperation.valueOf(f[5]), AclPermissionType.ALLOW)));
        }
        default -> throw new IllegalArgumentException("unknown plan line: " + f[0]);
      }
    }
    if (bootstrap == null || adminUser == null) throw new IllegalArgumentException("the plan needs bootstrap and admin lines");

    Properties props = new Properties();
    props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    props.put(AdminClientConfig.SECURITY_PROTOCOL_CONFIG, "SASL_PLAINTEXT");
    props.put("sasl.mechanism", "PLAIN");
    props.put("sasl.jaas.config", "org.apache.kafka.common.security.plain.PlainLoginModule required username=\""
        + adminUser + "\" password=\"" + adminPassword + "\";");
    props.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "30000");
    try (Admin admin = Admin.create(props)) {
      if (!users.isEmpty()) admin.alterUserScramCredentials(users).all().get();
      List<AclBinding> stale = new ArrayList<>();
      for (String principal : principals) {
        AclBindingFilter mine = new AclBindingFilter(ResourcePatternFilter.ANY,
            new AccessControlEntryFilter(principal, null, AclOperation.ANY, AclPermissionType.ANY));
        for (AclBinding existing : admin.describeAcls(mine).values().get()) {
          if (!wanted.contains(existing)) stale.add(existing);
        }
      }
      if (!stale.isEmpty()) {
        List<AclBindingFilter> filters = new ArrayList<>();
        for (AclBinding binding : stale) filters.add(binding.toFilter());
        admin.deleteAcls(filters).all().get();
      }
      admin.createAcls(new ArrayList<>(wanted)).all().get();
      System.out.println("provisioned " + users.size() + " SCRAM users, " + wanted.size() + " ACLs ("
          + stale.size() + " stale removed)");
    }
  }

  private static String readSecret(String file) throws Exception {
    String secret = Files.readString(Path.of(file), StandardCharsets.UTF_8).trim();
    if (secret.isEmpty()) throw new IllegalArgumentException(file + " is empty");
    return secret;
  }
}
