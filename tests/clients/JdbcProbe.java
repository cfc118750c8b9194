// pgJDBC: DatabaseMetaData (getSchemas, getTables, getColumns, getPrimaryKeys, getImportedKeys,
// getIndexInfo: the calls Metabase and DBeaver make through JDBC) and PreparedStatement with parameters.
// Run without javac: java -cp /usr/share/java/postgresql.jar JdbcProbe.java jdbc:postgresql://HOST:PORT/groundtruth?user=demo
import java.sql.*;
import java.time.OffsetDateTime;
import java.util.*;

public class JdbcProbe {
    static int passed = 0;
    static List<String> failed = new ArrayList<>();

    interface Check { void run(Connection c) throws Exception; }

    static void expect(boolean cond, String message) { if (!cond) throw new AssertionError(message); }

    static String shortMessage(Throwable e) {
        String m = e.getClass().getSimpleName() + ": " + e.getMessage();
        if (e instanceof SQLException && ((SQLException) e).getSQLState() != null) m += " (SQLSTATE " + ((SQLException) e).getSQLState() + ")";
        m = String.join(" | ", Arrays.stream(m.split("\n")).map(String::trim).filter(s -> !s.isEmpty()).toArray(String[]::new));
        return m.length() > 600 ? m.substring(0, 600) : m;
    }

    static void check(Connection c, String name, Check check) {
        try {
            check.run(c);
            passed++;
            System.out.println("ok   jdbc: " + name);
        } catch (Throwable e) {
            failed.add(name);
            System.out.println("FAIL jdbc: " + name + ": " + shortMessage(e));
            try { if (!c.getAutoCommit()) c.rollback(); } catch (SQLException ignored) { }
        }
    }

    public static void main(String[] args) throws Exception {
        String url = args[0];
        Connection c;
        try {
            c = DriverManager.getConnection(url);
        } catch (SQLException e) {
            System.out.println("FAIL jdbc: connect: " + shortMessage(e));
            System.out.println("jdbc: 0 passed, 1 failed");
            System.exit(1);
            return;
        }
        Set<String> expectedTables = new TreeSet<>(Arrays.asList("resources", "resource_versions", "drift", "drift_history",
            "sources", "scrapes", "identity_links", "relations", "query_catalog", "attribute_drift_history"));

        check(c, "getDatabaseProductVersion", conn -> {
            DatabaseMetaData md = conn.getMetaData();
            expect(md.getDatabaseMajorVersion() >= 9, "major version " + md.getDatabaseMajorVersion());
            expect(md.getDatabaseProductName().equals("PostgreSQL"), md.getDatabaseProductName());
        });
        check(c, "getSchemas", conn -> {
            Set<String> schemas = new TreeSet<>();
            try (ResultSet rs = conn.getMetaData().getSchemas()) { while (rs.next()) schemas.add(rs.getString("TABLE_SCHEM")); }
            expect(schemas.contains("public") && schemas.contains("storage"), "schemas " + schemas);
        });
        check(c, "getCatalogs", conn -> {
            Set<String> cats = new TreeSet<>();
            try (ResultSet rs = conn.getMetaData().getCatalogs()) { while (rs.next()) cats.add(rs.getString("TABLE_CAT")); }
            expect(cats.contains("groundtruth"), "catalogs " + cats);
        });
        check(c, "getTables(public, TABLE/VIEW)", conn -> {
            Set<String> tables = new TreeSet<>();
            try (ResultSet rs = conn.getMetaData().getTables(null, "public", "%", new String[] {"TABLE", "VIEW"})) {
                while (rs.next()) tables.add(rs.getString("TABLE_NAME"));
            }
            Set<String> missing = new TreeSet<>(expectedTables);
            missing.removeAll(tables);
            expect(missing.isEmpty(), "missing " + missing + " in " + tables);
        });
        check(c, "getTables remarks (table comment of drift)", conn -> {
            try (ResultSet rs = conn.getMetaData().getTables(null, "public", "drift", null)) {
                expect(rs.next(), "drift not found");
                expect(rs.getString("REMARKS") != null && !rs.getString("REMARKS").isEmpty(), "drift has no REMARKS");
            }
        });
        check(c, "getColumns(resources)", conn -> {
            List<String> names = new ArrayList<>();
            Map<String, Integer> types = new HashMap<>();
            Map<String, String> typeNames = new HashMap<>();
            try (ResultSet rs = conn.getMetaData().getColumns(null, "public", "resources", "%")) {
                while (rs.next()) {
                    names.add(rs.getString("COLUMN_NAME"));
                    types.put(rs.getString("COLUMN_NAME"), rs.getInt("DATA_TYPE"));
                    typeNames.put(rs.getString("COLUMN_NAME"), rs.getString("TYPE_NAME"));
                }
            }
            expect(names.equals(Arrays.asList("source", "kind", "id", "layer", "name", "attrs", "attrs_hash", "labels",
                "first_seen", "last_changed", "observed_at", "provenance")), "columns " + names);
            expect(types.get("id") == Types.VARCHAR, "id DATA_TYPE " + types.get("id") + " " + typeNames.get("id"));
            expect(types.get("first_seen") == Types.TIMESTAMP || types.get("first_seen") == Types.TIMESTAMP_WITH_TIMEZONE,
                "first_seen DATA_TYPE " + types.get("first_seen") + " " + typeNames.get("first_seen"));
            expect("timestamptz".equals(typeNames.get("first_seen")), "first_seen TYPE_NAME " + typeNames.get("first_seen"));
        });
        check(c, "getPrimaryKeys(resources)", conn -> {
            try (ResultSet rs = conn.getMetaData().getPrimaryKeys(null, "public", "resources")) {
                while (rs.next()) { /* none declared today; the call must work */ }
            }
        });
        check(c, "getImportedKeys(resources)", conn -> {
            try (ResultSet rs = conn.getMetaData().getImportedKeys(null, "public", "resources")) { while (rs.next()) { } }
        });
        check(c, "getIndexInfo(resources)", conn -> {
            try (ResultSet rs = conn.getMetaData().getIndexInfo(null, "public", "resources", false, true)) { while (rs.next()) { } }
        });
        check(c, "PreparedStatement with parameters (run 6 times: server-prepared from the 5th)", conn -> {
            try (PreparedStatement ps = conn.prepareStatement("SELECT kind, id, layer, first_seen FROM resources WHERE source = ? AND id = ?")) {
                for (int i = 0; i < 6; i++) {
                    ps.setString(1, "synthetic_iac");
                    ps.setString(2, "public.orders_customer_id_idx");
                    try (ResultSet rs = ps.executeQuery()) {
                        expect(rs.next(), "no row on run " + i);
                        expect(rs.getString("kind").equals("postgres_index") && rs.getString("layer").equals("declared"),
                            "row " + rs.getString("kind") + " " + rs.getString("layer"));
                        OffsetDateTime t = rs.getObject("first_seen", OffsetDateTime.class);
                        expect(t != null, "first_seen null");
                        expect(!rs.next(), "more than one row");
                    }
                }
            }
        });
        check(c, "PreparedStatement with typed parameters", conn -> {
            try (PreparedStatement ps = conn.prepareStatement("SELECT count(*) FROM resource_versions WHERE valid_from <= ? AND source = ?")) {
                ps.setObject(1, OffsetDateTime.now());
                ps.setString(2, "synthetic_iac");
                try (ResultSet rs = ps.executeQuery()) { expect(rs.next() && rs.getLong(1) > 0, "count"); }
            }
            try (PreparedStatement ps = conn.prepareStatement("SELECT source FROM sources WHERE stale = ? AND scrapes >= ?")) {
                ps.setBoolean(1, false);
                ps.setLong(2, 1);
                boolean found = false;
                try (ResultSet rs = ps.executeQuery()) { while (rs.next()) found |= rs.getString(1).equals("synthetic_iac"); }
                expect(found, "synthetic_iac not found");
            }
        });
        check(c, "types of sources", conn -> {
            try (Statement st = conn.createStatement();
                 ResultSet rs = st.executeQuery("SELECT stale, scrapes, staleness_seconds, last_success_at, last_error FROM sources WHERE source = 'synthetic_iac'")) {
                expect(rs.next(), "no row");
                expect(!rs.getBoolean(1) && rs.getObject(1) instanceof Boolean, "stale " + rs.getObject(1));
                expect(rs.getObject(2) instanceof Long, "scrapes " + rs.getObject(2).getClass());
                expect(rs.getObject(3) instanceof Double, "staleness_seconds " + rs.getObject(3).getClass());
                expect(rs.getObject(4, OffsetDateTime.class) != null, "last_success_at");
                expect("timestamptz".equals(rs.getMetaData().getColumnTypeName(4)), "last_success_at type " + rs.getMetaData().getColumnTypeName(4));
                expect(rs.getString(5) == null && rs.wasNull(), "last_error");
            }
        });
        check(c, "transaction (autocommit off)", conn -> {
            conn.setAutoCommit(false);
            try (Statement st = conn.createStatement(); ResultSet rs = st.executeQuery("SELECT count(*) FROM resources")) {
                expect(rs.next() && rs.getLong(1) > 0, "count");
            }
            conn.rollback();
            conn.setAutoCommit(true);
        });
        c.close();
        System.out.println("jdbc: " + passed + " passed, " + failed.size() + " failed");
        System.exit(failed.isEmpty() ? 0 : 1);
    }
}
