//! The `host` source: the processes and listening sockets of the machine it runs on, read
//! from procfs, as the live layer.
//!
//! Only configuration-like facts are recorded (what runs, as whom, with which arguments, and
//! what it listens on); counters such as CPU time, memory or scheduler state are left out so
//! that an idle host produces no new versions. Process environments are never read, and
//! argument values that look like secrets are replaced by a hash of [`canonical::redacted`].

use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::io::ErrorKind;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use groundtruth_engine::canonical;
use groundtruth_engine::model::{Coverage, Layer, Observation, ObservedResource, Scope};
use serde_json::{json, Map, Value};
use tokio_util::sync::CancellationToken;

use crate::error::{IngestError, Result};
use crate::source::{ScrapeContext, Source};

/// Kind of the per-process resources.
pub const PROCESS_KIND: &str = "process";
/// Kind of the per-socket resources.
pub const LISTEN_SOCKET_KIND: &str = "listen_socket";

/// Words that, found in an argument's key or flag name, mark its value as a secret. Matched
/// case-insensitively after dropping `-` and `_`, so `api_key`, `API-KEY` and `apiKey` all
/// match `apikey`.
const SECRET_WORDS: [&str; 6] = [
    "password",
    "passwd",
    "secret",
    "token",
    "apikey",
    "credential",
];

/// How many hex digits of the redaction hash an argument keeps: enough to see that a value
/// changed, far too few to be worth attacking.
const REDACTION_HASH_PREFIX_LENGTH: usize = 16;

/// Settings of the `host` source.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HostConfig {
    /// Where procfs is mounted (default /proc).
    #[serde(default)]
    pub proc_root: Option<PathBuf>,
}

/// Observes processes and listening sockets through a procfs tree.
#[derive(Debug, Clone)]
pub struct HostSource {
    name: String,
    proc_root: PathBuf,
}

impl HostSource {
    /// A source called `name` that reads the procfs mounted at `proc_root` (normally `/proc`).
    pub fn new(name: impl Into<String>, proc_root: impl Into<PathBuf>) -> Self {
        Self {
            name: name.into(),
            proc_root: proc_root.into(),
        }
    }

    /// The procfs root this source reads.
    pub fn proc_root(&self) -> &Path {
        &self.proc_root
    }
}

#[async_trait::async_trait]
impl Source for HostSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn source_type(&self) -> &'static str {
        "host"
    }

    async fn scrape(&self, context: &ScrapeContext) -> Result<Observation> {
        let proc_root = self.proc_root.clone();
        let name = self.name.clone();
        let cancel = context.cancel.clone();
        // procfs reads are synchronous and there can be thousands of them.
        let scan = tokio::task::spawn_blocking(move || scan_host(&proc_root, &name, &cancel)).await;
        match scan {
            Ok(result) => result,
            Err(join_error) if join_error.is_panic() => {
                std::panic::resume_unwind(join_error.into_panic())
            }
            Err(_) => Err(IngestError::Cancelled {
                source_name: self.name.clone(),
            }),
        }
    }
}

/// The transport protocols read from `net/`, with the state that means "accepting".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    Tcp,
    Tcp6,
    Udp,
    Udp6,
}

impl Protocol {
    const ALL: [Protocol; 4] = [Protocol::Tcp, Protocol::Tcp6, Protocol::Udp, Protocol::Udp6];

    /// Both the id prefix and the file name under `net/`.
    fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Tcp6 => "tcp6",
            Protocol::Udp => "udp",
            Protocol::Udp6 => "udp6",
        }
    }

    /// The kernel socket state of a socket waiting for peers: TCP_LISTEN for TCP, and
    /// TCP_CLOSE (an unconnected socket) for UDP, which has no listen state.
    fn accepting_state(self) -> &'static str {
        match self {
            Protocol::Tcp | Protocol::Tcp6 => "0A",
            Protocol::Udp | Protocol::Udp6 => "07",
        }
    }
}

/// One accepting socket as listed in `net/<protocol>`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SocketEntry {
    protocol: Protocol,
    address: String,
    port: u16,
    inode: u64,
}

impl SocketEntry {
    fn id(&self) -> String {
        if self.address.contains(':') {
            format!(
                "{}:[{}]:{}",
                self.protocol.as_str(),
                self.address,
                self.port
            )
        } else {
            format!("{}:{}:{}", self.protocol.as_str(), self.address, self.port)
        }
    }
}

/// What is kept of one process.
#[derive(Debug, Clone)]
struct ProcessEntry {
    pid: u32,
    parent_pid: u32,
    start_time: u64,
    comm: String,
    exe: Option<String>,
    arguments: Vec<String>,
    uid: Option<u32>,
}

impl ProcessEntry {
    fn id(&self) -> String {
        format!("{}@{}", self.pid, self.start_time)
    }
}

/// Read everything; runs on a blocking thread.
fn scan_host(
    proc_root: &Path,
    source_name: &str,
    cancel: &CancellationToken,
) -> Result<Observation> {
    let entries = std::fs::read_dir(proc_root).map_err(|source| IngestError::Read {
        path: proc_root.to_path_buf(),
        source,
    })?;
    let mut pids: Vec<u32> = entries
        .filter_map(|entry| entry.ok())
        .filter_map(|entry| {
            entry
                .file_name()
                .to_str()
                .and_then(|name| name.parse::<u32>().ok())
        })
        .collect();
    pids.sort_unstable();

    let mut warnings = Vec::new();
    let mut failures = Vec::new();
    let mut covered_protocols = Vec::new();
    let mut sockets = Vec::new();
    for protocol in Protocol::ALL {
        let path = proc_root.join("net").join(protocol.as_str());
        match std::fs::read_to_string(&path) {
            Ok(table) => {
                sockets.extend(parse_socket_table(&table, protocol, &path, &mut warnings));
                covered_protocols.push(protocol);
            }
            // No IPv6 (or no UDP) in this kernel: nothing listens there, and that is complete.
            Err(error) if error.kind() == ErrorKind::NotFound => covered_protocols.push(protocol),
            Err(error) => failures.push(format!("cannot read {}: {error}", path.display())),
        }
    }
    let wanted_inodes: BTreeSet<u64> = sockets.iter().map(|socket| socket.inode).collect();

    let mut processes = Vec::new();
    let mut names_by_pid = BTreeMap::new();
    let mut owner_by_inode: BTreeMap<u64, u32> = BTreeMap::new();
    for pid in pids {
        if cancel.is_cancelled() {
            return Err(IngestError::Cancelled {
                source_name: source_name.to_string(),
            });
        }
        let process_directory = proc_root.join(pid.to_string());
        // The process may have exited since the directory was listed; it is simply not seen.
        let Some(process) = read_process(&process_directory, pid) else {
            continue;
        };
        // Pids are visited in increasing order, so a socket shared by a parent and the
        // children it forked is attributed to the oldest pid, usually the parent.
        for inode in socket_inodes(&process_directory.join("fd")) {
            if wanted_inodes.contains(&inode) {
                owner_by_inode.entry(inode).or_insert(pid);
            }
        }
        names_by_pid.insert(pid, (process.comm.clone(), process.id()));
        // Kernel threads have no command line and nothing to configure.
        if !process.arguments.is_empty() {
            processes.push(process);
        }
    }

    let mut resources: Vec<ObservedResource> = processes.iter().map(process_resource).collect();
    resources.extend(socket_resources(sockets, &owner_by_inode, &names_by_pid));
    resources.sort_by(|left, right| (&left.kind, &left.id).cmp(&(&right.kind, &right.id)));

    let coverage = if failures.is_empty() {
        Coverage::Complete
    } else {
        let mut covered = vec![Scope::kind(PROCESS_KIND)];
        covered.extend(covered_protocols.iter().map(|protocol| Scope {
            kind: Some(LISTEN_SOCKET_KIND.to_string()),
            id_prefix: Some(format!("{}:", protocol.as_str())),
        }));
        warnings.extend(failures.iter().cloned());
        Coverage::Partial { covered, failures }
    };
    Ok(Observation {
        resources,
        coverage,
        warnings,
    })
}

/// Read one `/proc/PID` directory; `None` when its `stat` or `cmdline` cannot be read.
fn read_process(directory: &Path, pid: u32) -> Option<ProcessEntry> {
    let stat = std::fs::read_to_string(directory.join("stat")).ok()?;
    let (comm, parent_pid, start_time) = parse_stat(&stat)?;
    let command_line = std::fs::read(directory.join("cmdline")).ok()?;
    let arguments = command_line
        .split(|byte| *byte == 0)
        .map(|argument| String::from_utf8_lossy(argument).into_owned())
        .collect::<Vec<_>>();
    // The list ends with a NUL, which leaves one empty string behind.
    let arguments = match arguments.as_slice() {
        [rest @ .., last] if last.is_empty() => rest.to_vec(),
        _ => arguments,
    };
    let exe = std::fs::read_link(directory.join("exe"))
        .ok()
        .map(|target| target.to_string_lossy().into_owned());
    let uid = std::fs::read_to_string(directory.join("status"))
        .ok()
        .and_then(|status| parse_uid(&status));
    Some(ProcessEntry {
        pid,
        parent_pid,
        start_time,
        comm,
        exe,
        arguments: redact_arguments(&arguments),
        uid,
    })
}

/// (comm, ppid, starttime) from the text of `/proc/PID/stat`.
fn parse_stat(stat: &str) -> Option<(String, u32, u64)> {
    // comm is in parentheses and may itself contain spaces and parentheses; the last `)`
    // ends it.
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat.get(open + 1..close)?.to_string();
    // After comm come fields 3 (state), 4 (ppid), ... 22 (starttime).
    let fields: Vec<&str> = stat.get(close + 1..)?.split_whitespace().collect();
    let parent_pid = fields.get(1)?.parse().ok()?;
    let start_time = fields.get(19)?.parse().ok()?;
    Some((comm, parent_pid, start_time))
}

/// The real uid from the `Uid:` line of `/proc/PID/status`.
fn parse_uid(status: &str) -> Option<u32> {
    status
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().next()?.parse().ok())
}

/// Inodes of the sockets a process holds open, from `/proc/PID/fd/*` links `socket:[INODE]`.
fn socket_inodes(fd_directory: &Path) -> Vec<u64> {
    // Other users' fd directories are unreadable without privileges; their sockets stay
    // ownerless rather than failing the scrape.
    let Ok(entries) = std::fs::read_dir(fd_directory) else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok())
        .filter_map(|entry| std::fs::read_link(entry.path()).ok())
        .filter_map(|target| {
            let target = target.to_str()?;
            target
                .strip_prefix("socket:[")?
                .strip_suffix(']')?
                .parse()
                .ok()
        })
        .collect()
}

fn process_resource(process: &ProcessEntry) -> ObservedResource {
    let mut attributes = Map::new();
    attributes.insert("pid".to_string(), json!(process.pid));
    attributes.insert("ppid".to_string(), json!(process.parent_pid));
    attributes.insert("comm".to_string(), json!(process.comm));
    if let Some(exe) = &process.exe {
        attributes.insert("exe".to_string(), json!(exe));
    }
    attributes.insert("cmdline".to_string(), json!(process.arguments));
    if let Some(uid) = process.uid {
        attributes.insert("uid".to_string(), json!(uid));
    }
    ObservedResource::new(
        PROCESS_KIND,
        process.id(),
        Layer::Live,
        Value::Object(attributes),
    )
    .with_name(&process.comm)
}

/// One resource per (protocol, address, port). Several sockets can share one (SO_REUSEPORT
/// workers); the one with the lowest inode speaks for them and `socket_count` says how many.
fn socket_resources(
    sockets: Vec<SocketEntry>,
    owner_by_inode: &BTreeMap<u64, u32>,
    names_by_pid: &BTreeMap<u32, (String, String)>,
) -> Vec<ObservedResource> {
    let mut by_id: BTreeMap<String, Vec<SocketEntry>> = BTreeMap::new();
    for socket in sockets {
        by_id.entry(socket.id()).or_default().push(socket);
    }
    let mut resources = Vec::with_capacity(by_id.len());
    for (id, mut group) in by_id {
        group.sort_by_key(|socket| socket.inode);
        let socket_count = group.len();
        let Some(socket) = group.into_iter().next() else {
            continue;
        };
        let mut attributes = Map::new();
        attributes.insert("protocol".to_string(), json!(socket.protocol.as_str()));
        attributes.insert("address".to_string(), json!(socket.address));
        attributes.insert("port".to_string(), json!(socket.port));
        attributes.insert("inode".to_string(), json!(socket.inode));
        attributes.insert("socket_count".to_string(), json!(socket_count));
        let mut resource_name = None;
        if let Some(pid) = owner_by_inode.get(&socket.inode) {
            attributes.insert("pid".to_string(), json!(pid));
            if let Some((comm, process_id)) = names_by_pid.get(pid) {
                attributes.insert("comm".to_string(), json!(comm));
                // The id of the matching `process` resource, so the two can be joined.
                attributes.insert("process_id".to_string(), json!(process_id));
                resource_name = Some(comm.clone());
            }
        }
        let resource = ObservedResource::new(
            LISTEN_SOCKET_KIND,
            id,
            Layer::Live,
            Value::Object(attributes),
        );
        resources.push(match resource_name {
            Some(name) => resource.with_name(name),
            None => resource,
        });
    }
    resources
}

/// The accepting sockets of one `net/<protocol>` table.
fn parse_socket_table(
    table: &str,
    protocol: Protocol,
    path: &Path,
    warnings: &mut Vec<String>,
) -> Vec<SocketEntry> {
    let mut sockets = Vec::new();
    // The first line is the column header.
    for (index, line) in table.lines().enumerate().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        match parse_socket_line(line, protocol) {
            Ok(Some(socket)) => sockets.push(socket),
            Ok(None) => {}
            Err(message) => warnings.push(format!(
                "{}:{}: {message}; line skipped",
                path.display(),
                index + 1
            )),
        }
    }
    sockets
}

/// One table row: `sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode ...`.
/// `Ok(None)` for sockets that are not accepting.
fn parse_socket_line(line: &str, protocol: Protocol) -> Result<Option<SocketEntry>, String> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let (Some(local), Some(state), Some(inode)) = (fields.get(1), fields.get(3), fields.get(9))
    else {
        return Err(format!(
            "expected at least 10 columns, found {}",
            fields.len()
        ));
    };
    if !state.eq_ignore_ascii_case(protocol.accepting_state()) {
        return Ok(None);
    }
    let (address, port) = local
        .split_once(':')
        .ok_or_else(|| format!("local address {local:?} has no port"))?;
    let address =
        parse_hex_address(address).ok_or_else(|| format!("cannot parse address {address:?}"))?;
    let port = u16::from_str_radix(port, 16).map_err(|_| format!("cannot parse port {port:?}"))?;
    let inode = inode
        .parse()
        .map_err(|_| format!("cannot parse inode {inode:?}"))?;
    Ok(Some(SocketEntry {
        protocol,
        address,
        port,
        inode,
    }))
}

/// Decode a procfs hex address. The kernel prints each 32-bit word of the network-order
/// address as a native integer, so every word is turned back into bytes in native order
/// (little-endian on the hosts we run on: `0100007F` is 127.0.0.1).
fn parse_hex_address(hex: &str) -> Option<String> {
    let word = |start: usize| -> Option<[u8; 4]> {
        let text = hex.get(start..start + 8)?;
        Some(u32::from_str_radix(text, 16).ok()?.to_ne_bytes())
    };
    match hex.len() {
        8 => Some(Ipv4Addr::from(word(0)?).to_string()),
        32 => {
            let mut octets = [0u8; 16];
            for (position, chunk) in octets.chunks_exact_mut(4).enumerate() {
                chunk.copy_from_slice(&word(position * 8)?);
            }
            Some(Ipv6Addr::from(octets).to_string())
        }
        _ => None,
    }
}

/// Whether an argument key or flag name names a secret.
fn names_a_secret(key: &str) -> bool {
    let normalized: String = key
        .chars()
        .filter(|character| *character != '-' && *character != '_')
        .flat_map(char::to_lowercase)
        .collect();
    SECRET_WORDS.iter().any(|word| normalized.contains(word))
}

/// `<redacted:HASHPREFIX>`, from the same hash [`canonical::redacted`] stores for attributes.
fn redaction_tag(secret: &str) -> String {
    let stand_in = canonical::redacted(&Value::String(secret.to_string()));
    let digest = stand_in
        .get("sha256")
        .and_then(Value::as_str)
        .unwrap_or_default();
    format!(
        "<redacted:{}>",
        digest.get(..REDACTION_HASH_PREFIX_LENGTH).unwrap_or(digest)
    )
}

/// Replace secret-looking argument values: `--password=x`, `PASSWORD=x`, the argument after a
/// bare `--token`, and the password in `scheme://user:password@host` URLs.
fn redact_arguments(arguments: &[String]) -> Vec<String> {
    let mut redacted = Vec::with_capacity(arguments.len());
    let mut next_is_secret = false;
    for (position, argument) in arguments.iter().enumerate() {
        if next_is_secret {
            next_is_secret = false;
            redacted.push(redaction_tag(argument));
            continue;
        }
        if let Some((key, value)) = argument.split_once('=') {
            if names_a_secret(key) {
                redacted.push(format!("{key}={}", redaction_tag(value)));
                continue;
            }
        } else if position > 0
            && argument.starts_with('-')
            && names_a_secret(argument.trim_start_matches('-'))
        {
            // A bare flag such as `--password`: its value is the next argument.
            next_is_secret = true;
        }
        redacted.push(redact_url_passwords(argument));
    }
    redacted
}

/// Replace the password of every `scheme://user:password@host` in `text`.
fn redact_url_passwords(text: &str) -> String {
    let mut result = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(scheme_end) = rest.find("://") {
        let authority_start = scheme_end + 3;
        result.push_str(&rest[..authority_start]);
        rest = &rest[authority_start..];
        let authority_end = rest.find(['/', '?', '#', ' ']).unwrap_or(rest.len());
        let authority = &rest[..authority_end];
        if let Some(at) = authority.rfind('@') {
            let user_information = &authority[..at];
            if let Some((user, password)) = user_information.split_once(':') {
                result.push_str(user);
                result.push(':');
                result.push_str(&redaction_tag(password));
                result.push_str(&authority[at..]);
                rest = &rest[authority_end..];
                continue;
            }
        }
        result.push_str(authority);
        rest = &rest[authority_end..];
    }
    result.push_str(rest);
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use std::fs;
    use std::os::unix::fs::symlink;

    fn context() -> ScrapeContext {
        ScrapeContext {
            started_at: Utc
                .with_ymd_and_hms(2025, 1, 1, 0, 0, 0)
                .single()
                .expect("valid time"),
            cancel: CancellationToken::new(),
        }
    }

    const TCP_HEADER: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";

    fn stat_line(pid: u32, comm: &str, parent_pid: u32, start_time: u64) -> String {
        // Fields 3..=52 of a real stat line; only ppid (4) and starttime (22) matter here.
        format!(
            "{pid} ({comm}) S {parent_pid} {pid} {pid} 0 -1 4194560 1200 0 0 0 15 7 0 0 20 0 1 0 {start_time} \
             12345678 900 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 3 0 0 0 0 0 0 0 0 0 0 0 0 0\n"
        )
    }

    fn write_process(
        root: &Path,
        pid: u32,
        comm: &str,
        arguments: &[&str],
        uid: u32,
        socket_inodes: &[u64],
    ) {
        let directory = root.join(pid.to_string());
        fs::create_dir_all(directory.join("fd")).expect("mkdir");
        fs::write(
            directory.join("stat"),
            stat_line(pid, comm, 1, 4000 + u64::from(pid)),
        )
        .expect("stat");
        let mut command_line = Vec::new();
        for argument in arguments {
            command_line.extend_from_slice(argument.as_bytes());
            command_line.push(0);
        }
        fs::write(directory.join("cmdline"), command_line).expect("cmdline");
        fs::write(
            directory.join("status"),
            format!("Name:\t{comm}\nUid:\t{uid}\t{uid}\t{uid}\t{uid}\n"),
        )
        .expect("status");
        // A secret sitting in the environment must never be read.
        fs::write(directory.join("environ"), "DB_PASSWORD=environ-secret\0").expect("environ");
        if let Some(program) = arguments.first() {
            symlink(program, directory.join("exe")).expect("exe link");
        }
        symlink("/dev/null", directory.join("fd").join("0")).expect("fd 0");
        for (position, inode) in socket_inodes.iter().enumerate() {
            symlink(
                format!("socket:[{inode}]"),
                directory.join("fd").join((position + 3).to_string()),
            )
            .expect("fd link");
        }
    }

    /// A procfs tree with a database listening on TCP, a DNS cache on UDP and a kernel thread.
    fn fake_proc_tree() -> tempfile::TempDir {
        let directory = tempfile::tempdir().expect("tempdir");
        let root = directory.path();
        write_process(
            root,
            812,
            "postgres",
            &[
                "/usr/lib/postgresql/16/bin/postgres",
                "-D",
                "/var/lib/postgresql/16/main",
                "--password=hunter2",
            ],
            113,
            &[41001],
        );
        write_process(
            root,
            977,
            "dnsmasq",
            &[
                "/usr/sbin/dnsmasq",
                "--keep-in-foreground",
                "--token",
                "hunter2-token",
            ],
            0,
            &[41007, 41002],
        );
        // A kernel thread: a stat but no command line.
        write_process(root, 2, "kthreadd", &[], 0, &[]);
        fs::create_dir_all(root.join("sys")).expect("non-numeric dir");
        fs::create_dir_all(root.join("net")).expect("net");
        fs::write(
            root.join("net/tcp"),
            format!(
                "{TCP_HEADER}   0: 0100007F:1538 00000000:0000 0A 00000000:00000000 00:00000000 00000000   113        0 41001 1 0000000000000000 100 0 0 10 0\n   1: 0100007F:1538 0100007F:D2F0 01 00000000:00000000 00:00000000 00000000   113        0 41003 1 0000000000000000 20 4 30 10 -1\n"
            ),
        )
        .expect("tcp");
        fs::write(
            root.join("net/tcp6"),
            format!("{TCP_HEADER}   0: 00000000000000000000000000000000:0016 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 41005 1 0000000000000000 100 0 0 10 0\n"),
        )
        .expect("tcp6");
        fs::write(
            root.join("net/udp"),
            format!("{TCP_HEADER}  5: 3500007F:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 41002 2 0000000000000000 0\n"),
        )
        .expect("udp");
        // No net/udp6: a kernel without IPv6 UDP simply has no such sockets.
        directory
    }

    fn find<'a>(observation: &'a Observation, kind: &str, id: &str) -> &'a ObservedResource {
        observation
            .resources
            .iter()
            .find(|resource| resource.kind == kind && resource.id == id)
            .unwrap_or_else(|| panic!("no {kind} {id} in {:#?}", observation.resources))
    }

    fn serialized(observation: &Observation) -> String {
        let resources: Vec<Value> = observation
            .resources
            .iter()
            .map(|resource| {
                json!([
                    resource.kind,
                    resource.id,
                    resource.name,
                    resource.attrs,
                    resource.labels
                ])
            })
            .collect();
        json!({"resources": resources, "warnings": observation.warnings}).to_string()
    }

    #[tokio::test]
    async fn fake_tree_gives_processes_and_sockets() {
        let tree = fake_proc_tree();
        let source = HostSource::new("host", tree.path());
        let observation = source.scrape(&context()).await.expect("scrape");
        assert_eq!(observation.coverage, Coverage::Complete);
        assert!(
            observation.warnings.is_empty(),
            "{:?}",
            observation.warnings
        );

        let keys: Vec<(&str, &str)> = observation
            .resources
            .iter()
            .map(|resource| (resource.kind.as_str(), resource.id.as_str()))
            .collect();
        assert_eq!(
            keys,
            vec![
                ("listen_socket", "tcp6:[::]:22"),
                ("listen_socket", "tcp:127.0.0.1:5432"),
                ("listen_socket", "udp:127.0.0.53:53"),
                ("process", "812@4812"),
                ("process", "977@4977"),
            ]
        );

        let postgres = find(&observation, PROCESS_KIND, "812@4812");
        assert_eq!(postgres.name.as_deref(), Some("postgres"));
        assert_eq!(postgres.layer, Layer::Live);
        assert_eq!(postgres.attrs["pid"], json!(812));
        assert_eq!(postgres.attrs["ppid"], json!(1));
        assert_eq!(postgres.attrs["uid"], json!(113));
        assert_eq!(
            postgres.attrs["exe"],
            json!("/usr/lib/postgresql/16/bin/postgres")
        );
        let arguments = postgres.attrs["cmdline"].as_array().expect("cmdline list");
        assert_eq!(arguments.len(), 4);
        assert_eq!(arguments[2], json!("/var/lib/postgresql/16/main"));
        assert_eq!(
            arguments[3],
            json!(format!("--password={}", redaction_tag("hunter2")))
        );

        let dnsmasq = find(&observation, PROCESS_KIND, "977@4977");
        assert_eq!(dnsmasq.attrs["cmdline"][2], json!("--token"));
        assert!(dnsmasq.attrs["cmdline"][3]
            .as_str()
            .is_some_and(|text| text.starts_with("<redacted:")));

        let database = find(&observation, LISTEN_SOCKET_KIND, "tcp:127.0.0.1:5432");
        assert_eq!(
            database.attrs,
            json!({
                "protocol": "tcp", "address": "127.0.0.1", "port": 5432, "inode": 41001, "socket_count": 1,
                "pid": 812, "comm": "postgres", "process_id": "812@4812"
            })
        );
        let dns = find(&observation, LISTEN_SOCKET_KIND, "udp:127.0.0.53:53");
        assert_eq!(dns.attrs["pid"], json!(977));
        assert_eq!(dns.attrs["comm"], json!("dnsmasq"));
        // Nobody in the tree holds the sshd socket: the owner is unknown, not an error.
        let ssh = find(&observation, LISTEN_SOCKET_KIND, "tcp6:[::]:22");
        assert_eq!(ssh.attrs["address"], json!("::"));
        assert!(ssh.attrs.get("pid").is_none());

        let text = serialized(&observation);
        assert!(!text.contains("hunter2"), "secret leaked: {text}");
        assert!(!text.contains("environ-secret"), "environment read: {text}");
    }

    #[tokio::test]
    async fn two_scrapes_are_identical() {
        let tree = fake_proc_tree();
        let source = HostSource::new("host", tree.path());
        let first = source.scrape(&context()).await.expect("first");
        let second = source.scrape(&context()).await.expect("second");
        assert_eq!(first.resources, second.resources);
        assert_eq!(serialized(&first), serialized(&second));
    }

    #[tokio::test]
    async fn unreadable_root_is_a_read_error() {
        let tree = fake_proc_tree();
        let missing = tree.path().join("not-here");
        let error = HostSource::new("host", &missing)
            .scrape(&context())
            .await
            .expect_err("must fail");
        assert!(
            matches!(&error, IngestError::Read { path, .. } if path == &missing),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn unreadable_socket_table_gives_partial_coverage() {
        let tree = fake_proc_tree();
        // A directory where a file is expected: reading it fails with something other than
        // "not found".
        fs::create_dir_all(tree.path().join("net/udp6")).expect("mkdir");
        let observation = HostSource::new("host", tree.path())
            .scrape(&context())
            .await
            .expect("scrape");
        let Coverage::Partial { covered, failures } = &observation.coverage else {
            panic!("expected partial coverage, got {:?}", observation.coverage)
        };
        assert_eq!(failures.len(), 1);
        let socket_key = |id: &str| groundtruth_engine::model::ResourceKey {
            kind: LISTEN_SOCKET_KIND.into(),
            id: id.into(),
        };
        assert!(covered
            .iter()
            .any(|scope| scope.contains(&socket_key("udp:127.0.0.53:53"))));
        assert!(!covered
            .iter()
            .any(|scope| scope.contains(&socket_key("udp6:[::]:53"))));
    }

    #[tokio::test]
    async fn cancelled_scrape_stops() {
        let tree = fake_proc_tree();
        let context = context();
        context.cancel.cancel();
        let error = HostSource::new("host", tree.path())
            .scrape(&context)
            .await
            .expect_err("cancelled");
        assert!(matches!(error, IngestError::Cancelled { .. }), "{error:?}");
    }

    #[tokio::test]
    async fn real_proc_contains_this_process() {
        let observation = HostSource::new("host", "/proc")
            .scrape(&context())
            .await
            .expect("scrape /proc");
        let own_pid = std::process::id();
        let own = observation.resources.iter().find(|resource| {
            resource.kind == PROCESS_KIND && resource.attrs["pid"] == json!(own_pid)
        });
        let own = own.expect("the test process is listed");
        assert!(own.id.starts_with(&format!("{own_pid}@")));
        assert!(own.attrs["cmdline"]
            .as_array()
            .is_some_and(|arguments| !arguments.is_empty()));
    }

    #[test]
    fn stat_parsing_handles_awkward_comm() {
        let stat = stat_line(4242, "tmux: server (1)", 17, 987654);
        assert_eq!(
            parse_stat(&stat),
            Some(("tmux: server (1)".to_string(), 17, 987654))
        );
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn hex_addresses_decode_per_word() {
        // Literals as a little-endian kernel prints them.
        assert_eq!(parse_hex_address("0100007F").as_deref(), Some("127.0.0.1"));
        assert_eq!(parse_hex_address("00000000").as_deref(), Some("0.0.0.0"));
        assert_eq!(
            parse_hex_address("0A01A8C0").as_deref(),
            Some("192.168.1.10")
        );
        assert_eq!(
            parse_hex_address("00000000000000000000000001000000").as_deref(),
            Some("::1")
        );
        assert_eq!(
            parse_hex_address("0000000000000000FFFF00000100007F").as_deref(),
            Some("::ffff:127.0.0.1")
        );
        assert_eq!(
            parse_hex_address("B80D0120000000000000000001000000").as_deref(),
            Some("2001:db8::1")
        );
        assert_eq!(parse_hex_address("XYZ"), None);
    }

    #[test]
    fn secret_arguments_are_redacted() {
        let arguments: Vec<String> = [
            "/usr/bin/app",
            "--db-password=pw-one",
            "PGPASSWORD=pw-two",
            "secret=pw-three",
            "--API_KEY=pw-four",
            "--client-credentials",
            "pw-five",
            "--url=postgres://app:pw-six@db.internal:5432/app",
            "-v",
            "--port=8080",
            "plain",
        ]
        .iter()
        .map(|argument| argument.to_string())
        .collect();
        let redacted = redact_arguments(&arguments);
        let text = redacted.join(" ");
        for secret in [
            "pw-one", "pw-two", "pw-three", "pw-four", "pw-five", "pw-six",
        ] {
            assert!(!text.contains(secret), "{secret} leaked in {text}");
        }
        assert_eq!(
            redacted[1],
            format!("--db-password={}", redaction_tag("pw-one"))
        );
        assert_eq!(
            redacted[2],
            format!("PGPASSWORD={}", redaction_tag("pw-two"))
        );
        assert_eq!(redacted[5], "--client-credentials");
        assert_eq!(redacted[6], redaction_tag("pw-five"));
        assert_eq!(
            redacted[7],
            format!(
                "--url=postgres://app:{}@db.internal:5432/app",
                redaction_tag("pw-six")
            )
        );
        assert_eq!(&redacted[8..], &arguments[8..]);
        assert_ne!(redaction_tag("pw-one"), redaction_tag("pw-two"));
        let expected_digest = canonical::redacted(&json!("pw-one"))["sha256"]
            .as_str()
            .expect("digest")
            .to_string();
        assert_eq!(
            redaction_tag("pw-one"),
            format!("<redacted:{}>", &expected_digest[..16])
        );
    }
}
