//! Real servers a test starts, breaks and stops itself: a throwaway
//! PostgreSQL cluster (`initdb` + `pg_ctl`), a throwaway `redis-server`,
//! and the app served on a real TCP port. Each listens on a free loopback
//! port and is stopped (by its PID) when dropped; none touches the
//! machine's shared servers.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use emporium::server::ConnectionLimits;

/// A free TCP port on loopback (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_until(what: &str, timeout: Duration, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !ready() {
        assert!(
            Instant::now() < deadline,
            "{what} did not happen within {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn port_answers(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
}

// ---- PostgreSQL -------------------------------------------------------------

/// A PostgreSQL cluster of the test's own, in a scratch folder.
pub struct ThrowawayPostgres {
    pub port: u16,
    dir: PathBuf,
    bin: PathBuf,
}

impl ThrowawayPostgres {
    /// `initdb` and start, with `settings` (`name=value`) added to the server's.
    pub fn start(settings: &[&str]) -> Self {
        let bin = postgres_bin();
        let dir =
            std::env::temp_dir().join(format!("emporium-pg-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        hand_to_postgres_user(&dir);
        run_as_postgres(
            Command::new(bin.join("initdb"))
                .arg("-D")
                .arg(dir.join("data"))
                .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"])
                // As scripts/services.sh: lower() as the server maps names
                // (domain::text::lower_as_postgres).
                .arg("--locale=C.UTF-8"),
        );
        let mut conf = String::from("fsync = off\nlisten_addresses = '127.0.0.1'\n");
        for setting in settings {
            conf.push_str(setting);
            conf.push('\n');
        }
        std::fs::write(dir.join("data").join("postgresql.auto.conf"), conf).unwrap();
        let cluster = Self {
            port: free_port(),
            dir,
            bin,
        };
        cluster.start_again();
        cluster
    }

    /// A streaming replica of this cluster (`pg_basebackup -R` into a
    /// scratch folder, started on a free port), with `settings` added
    /// (`recovery_min_apply_delay = '3s'`, say). Databases created on the
    /// primary before this call are on it already; later writes stream.
    pub fn replica(&self, settings: &[&str]) -> Self {
        let dir =
            std::env::temp_dir().join(format!("emporium-pg-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        hand_to_postgres_user(&dir);
        run_as_postgres(
            Command::new(self.bin.join("pg_basebackup"))
                .args([
                    "-h",
                    "127.0.0.1",
                    "-p",
                    &self.port.to_string(),
                    "-U",
                    "postgres",
                ])
                .arg("-D")
                .arg(dir.join("data"))
                .args(["-R", "-X", "stream", "--no-sync", "-c", "fast"]),
        );
        let auto_conf = dir.join("data").join("postgresql.auto.conf");
        let mut conf = std::fs::read_to_string(&auto_conf).unwrap();
        for setting in settings {
            conf.push_str(setting);
            conf.push('\n');
        }
        std::fs::write(&auto_conf, conf).unwrap();
        let replica = Self {
            port: free_port(),
            dir,
            bin: self.bin.clone(),
        };
        replica.start_again();
        replica
    }

    /// A URL of database `name` on this cluster.
    pub fn url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    fn pg_ctl(&self, args: &[&str]) {
        let options = format!("-p {} -k {}", self.port, self.dir.display());
        run_as_postgres(
            Command::new(self.bin.join("pg_ctl"))
                .arg("-D")
                .arg(self.dir.join("data"))
                .arg("-l")
                .arg(self.dir.join("server.log"))
                .args(["-o", &options])
                .args(args),
        );
    }

    /// Stops the server the way an operator's restart does (`-m fast`:
    /// sessions are terminated, the data is kept).
    pub fn stop(&self) {
        self.pg_ctl(&["-m", "fast", "-w", "stop"]);
    }

    /// Stops the server the way a crash does (`-m immediate`: no checkpoint,
    /// and what sits in its WAL buffers, not yet written out, is gone).
    pub fn crash(&self) {
        self.pg_ctl(&["-m", "immediate", "-w", "stop"]);
    }

    /// SIGSTOP to the server and every process it started: its connections
    /// stay open and nothing answers, as on a host gone quiet.
    pub fn freeze(&self) {
        self.signal_all(libc::SIGSTOP);
    }

    /// SIGCONT after [`ThrowawayPostgres::freeze`].
    pub fn thaw(&self) {
        self.signal_all(libc::SIGCONT);
    }

    fn signal_all(&self, signal: libc::c_int) {
        let pid_file = std::fs::read_to_string(self.dir.join("data").join("postmaster.pid"));
        let postmaster: libc::pid_t = pid_file.unwrap().lines().next().unwrap().parse().unwrap();
        let mut pids = vec![postmaster];
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<libc::pid_t>() else {
                continue;
            };
            // `pid (name) state ppid ...`: the parent's pid comes after the name.
            let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
            let parent = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<libc::pid_t>().ok());
            if parent == Some(postmaster) {
                pids.push(pid);
            }
        }
        for pid in pids {
            // SAFETY: kill on the processes of a server this test started.
            unsafe { libc::kill(pid, signal) };
        }
    }

    /// Starts it again and waits until it accepts connections.
    pub fn start_again(&self) {
        self.pg_ctl(&["-w", "-t", "30", "start"]);
        wait_until(
            "PostgreSQL accepting connections",
            Duration::from_secs(30),
            || {
                Command::new(self.bin.join("pg_isready"))
                    .args(["-q", "-h", "127.0.0.1", "-p", &self.port.to_string()])
                    .status()
                    .is_ok_and(|status| status.success())
            },
        );
    }

    /// `pg_ctl restart -m fast`.
    pub fn restart(&self) {
        self.stop();
        self.start_again();
    }
}

impl Drop for ThrowawayPostgres {
    fn drop(&mut self) {
        let _ = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "{} {} -D {} -m immediate stop",
                if is_root() {
                    "runuser -u postgres --"
                } else {
                    ""
                },
                self.bin.join("pg_ctl").display(),
                self.dir.join("data").display()
            ))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The newest PostgreSQL's binaries (Debian keeps them off PATH).
fn postgres_bin() -> PathBuf {
    if let Ok(output) = Command::new("pg_config").arg("--bindir").output()
        && output.status.success()
    {
        let dir = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
        if dir.join("initdb").exists() {
            return dir;
        }
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| {
            entries
                .flatten()
                .map(|entry| entry.path().join("bin"))
                .collect()
        })
        .unwrap_or_default();
    versions.retain(|dir| dir.join("initdb").exists());
    versions.sort();
    versions
        .pop()
        .expect("PostgreSQL's server binaries (initdb, pg_ctl) are installed")
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// PostgreSQL refuses to run as root: as root, its tools run as `postgres`
/// on folders that user owns.
fn hand_to_postgres_user(dir: &Path) {
    if is_root() {
        let status = Command::new("chown")
            .args(["-R", "postgres"])
            .arg(dir)
            .status()
            .unwrap();
        assert!(status.success(), "chown postgres {}", dir.display());
    }
}

fn run_as_postgres(command: &mut Command) {
    let mut full = if is_root() {
        let mut wrapped = Command::new("runuser");
        wrapped
            .args(["-u", "postgres", "--"])
            .arg(command.get_program())
            .args(command.get_args());
        wrapped
    } else {
        let mut plain = Command::new(command.get_program());
        plain.args(command.get_args());
        plain
    };
    let output = full.output().unwrap();
    assert!(
        output.status.success(),
        "{command:?}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

// ---- Redis ------------------------------------------------------------------

/// A `redis-server` of the test's own on a free port, killed on drop.
pub struct ThrowawayRedis {
    pub port: u16,
    settings: Vec<String>,
    /// A configuration file of the repository and the directory its
    /// files go to (kept across restarts), or neither: nothing persisted.
    persisted: Option<(PathBuf, PathBuf)>,
    child: Option<Child>,
}

/// A free port whose cluster bus port (+10000) is free too: a cluster node
/// listens on both.
fn free_redis_port() -> u16 {
    loop {
        let port = free_port();
        if port
            .checked_add(10_000)
            .is_some_and(|bus| std::net::TcpListener::bind(("127.0.0.1", bus)).is_ok())
        {
            return port;
        }
    }
}

impl ThrowawayRedis {
    /// Starts one with extra `settings` (`["--maxmemory", "2mb", ...]`).
    pub fn start(settings: &[&str]) -> Self {
        let mut server = Self {
            port: free_redis_port(),
            settings: settings.iter().map(|s| (*s).to_owned()).collect(),
            persisted: None,
            child: None,
        };
        server.start_again();
        server
    }

    /// Starts one as the repository's `deploy/<config>` says, its files in
    /// a directory of its own that outlives its restarts.
    pub fn start_as_deployed(config: &str) -> Self {
        let file = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("deploy")
            .join(config);
        let dir =
            std::env::temp_dir().join(format!("emporium-redis-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut server = Self {
            port: free_redis_port(),
            settings: Vec::new(),
            persisted: Some((file, dir)),
            child: None,
        };
        server.start_again();
        server
    }

    /// Stops it as an operator or a deploy does (SIGTERM: it finishes what
    /// it writes), and starts it again on the same port and directory.
    pub fn restart(&mut self) {
        if let Some(mut child) = self.child.take() {
            self.signal_child(&child, libc::SIGTERM);
            let _ = child.wait();
        }
        self.start_again();
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// (Re)starts it on the same port: empty, unless it keeps its files.
    pub fn start_again(&mut self) {
        let mut command = Command::new("redis-server");
        match &self.persisted {
            // The file first: what follows it on the line overrides it.
            Some((file, dir)) => command.arg(file).arg("--dir").arg(dir),
            None => command.args(["--save", "", "--appendonly", "no"]),
        };
        let child = command
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(&self.settings)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed (scripts/services.sh installs it)");
        self.child = Some(child);
        let port = self.port;
        wait_until("redis-server listening", Duration::from_secs(10), || {
            port_answers(port)
        });
    }

    /// Kills it (SIGKILL): every key is gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGSTOP: it keeps its sockets but answers nothing, as a server
    /// stuck in a long command or a lost network does.
    pub fn freeze(&self) {
        self.signal(libc::SIGSTOP);
    }

    /// SIGCONT after [`ThrowawayRedis::freeze`].
    pub fn thaw(&self) {
        self.signal(libc::SIGCONT);
    }

    /// Makes it refuse `command` (an ACL rule on its default user) until
    /// [`ThrowawayRedis::allow`]: a server that fails one step of several.
    pub fn refuse(&self, command: &str) {
        self.acl(&format!("-{command}"));
    }

    /// Undoes [`ThrowawayRedis::refuse`].
    pub fn allow(&self, command: &str) {
        self.acl(&format!("+{command}"));
    }

    fn acl(&self, rule: &str) {
        let port = self.port.to_string();
        let output = Command::new("redis-cli")
            .args(["-p", &port, "ACL", "SETUSER", "default", rule])
            .output()
            .expect("redis-cli is installed with redis-server");
        assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "OK");
    }

    fn signal(&self, signal: libc::c_int) {
        let child = self.child.as_ref().expect("the server runs");
        self.signal_child(child, signal);
    }

    fn signal_child(&self, child: &Child, signal: libc::c_int) {
        let pid = libc::pid_t::try_from(child.id()).unwrap();
        // SAFETY: kill on our own child's pid.
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
    }
}

impl Drop for ThrowawayRedis {
    fn drop(&mut self) {
        if self.child.is_some() {
            self.thaw();
        }
        self.kill();
        if let Some((_, dir)) = &self.persisted {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// A Redis Cluster of the test's own: three masters, each with one
/// replica, on free loopback ports (`--cluster-enabled yes`, then
/// `redis-cli --cluster create`); every server is killed on drop.
pub struct ThrowawayRedisCluster {
    pub nodes: Vec<ThrowawayRedis>,
    dir: PathBuf,
}

impl ThrowawayRedisCluster {
    /// A cluster whose nodes are failed over only after 5 s of silence: a
    /// busy machine's pauses do not fail them over by chance.
    pub fn start() -> Self {
        Self::start_with_node_timeout("5000")
    }

    /// A cluster that fails a silent master over after 1 s, for the tests
    /// of a failover.
    pub fn start_for_failover() -> Self {
        Self::start_with_node_timeout("1000")
    }

    fn start_with_node_timeout(milliseconds: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "emporium-redis-cluster-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let nodes: Vec<ThrowawayRedis> = (0..6)
            .map(|node| {
                let config = dir.join(format!("nodes-{node}.conf"));
                ThrowawayRedis::start(&[
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    config.to_str().unwrap(),
                    "--cluster-node-timeout",
                    milliseconds,
                    // A replica of an idle master may take over however
                    // long ago it last heard from it (else it refuses).
                    "--cluster-replica-validity-factor",
                    "0",
                    "--dir",
                    dir.to_str().unwrap(),
                ])
            })
            .collect();
        let addresses: Vec<String> = nodes
            .iter()
            .map(|node| format!("127.0.0.1:{}", node.port))
            .collect();
        let output = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&addresses)
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "redis-cli --cluster create: {}",
            String::from_utf8_lossy(&output.stdout)
        );
        let cluster = Self { nodes, dir };
        cluster.wait_until_ok(true);
        cluster
    }

    /// Every live node says `cluster_state:ok` (and, with `replicas`, every
    /// master has a replica).
    pub fn wait_until_ok(&self, replicas: bool) {
        wait_until("the Redis Cluster is ok", Duration::from_secs(30), || {
            let live = self.nodes.iter().filter(|node| node.child.is_some());
            let all_ok = live.clone().all(|node| {
                redis_cli(node.port, &["cluster", "info"]).contains("cluster_state:ok")
            });
            let masters_with_replicas = live
                .filter(|node| redis_cli(node.port, &["role"]).starts_with("master"))
                .all(|node| {
                    redis_cli(node.port, &["info", "replication"]).contains(",state=online,")
                });
            all_ok && (masters_with_replicas || !replicas)
        });
    }

    /// Kills the master of `key`'s slot and waits until its replica has
    /// taken over (the others marked it failed and agree again).
    pub fn fail_over(&mut self, key: &str) {
        let dead = {
            let master = self.master_of(key);
            master.kill();
            master.port
        };
        wait_until(
            "a replica took over the killed master's slots",
            Duration::from_secs(30),
            || self.master_port_of(key).is_some_and(|port| port != dead),
        );
        self.wait_until_ok(false);
    }

    /// The seed URLs (`REDIS_CLUSTER_NODES`).
    pub fn seeds(&self) -> Vec<String> {
        self.nodes.iter().map(ThrowawayRedis::url).collect()
    }

    /// The node now the master of `key`'s slot.
    pub fn master_of(&mut self, key: &str) -> &mut ThrowawayRedis {
        let port = self.master_port_of(key).expect("a master holds the slot");
        self.nodes
            .iter_mut()
            .find(|node| node.port == port)
            .unwrap()
    }

    /// The port of the master of `key`'s slot, as a live node sees it.
    fn master_port_of(&self, key: &str) -> Option<u16> {
        let any = self
            .nodes
            .iter()
            .find(|node| node.child.is_some())
            .unwrap()
            .port;
        let slot: u16 = redis_cli(any, &["cluster", "keyslot", key])
            .trim()
            .parse()
            .unwrap();
        // `<id> 127.0.0.1:<port>@<bus> <flags> ... connected <from>-<to> ...`
        let nodes = redis_cli(any, &["cluster", "nodes"]);
        nodes.lines().find_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let is_master = fields.get(2)?.split(',').any(|flag| flag == "master")
                && !fields[2].contains("fail");
            let holds = fields.iter().skip(8).any(|range| {
                let (from, to) = range.split_once('-').unwrap_or((range, range));
                match (from.parse::<u16>(), to.parse::<u16>()) {
                    (Ok(from), Ok(to)) => (from..=to).contains(&slot),
                    _ => false,
                }
            });
            let port = fields
                .get(1)?
                .split(['@', ':'])
                .nth(1)?
                .parse::<u16>()
                .ok()?;
            (is_master && holds).then_some(port)
        })
    }
}

impl Drop for ThrowawayRedisCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            node.kill();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn redis_cli(port: u16, args: &[&str]) -> String {
    let output = Command::new("redis-cli")
        .args(["-p", &port.to_string(), "--raw"])
        .args(args)
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stdout).into_owned()
}

// ---- the app on a real port -------------------------------------------------

/// The app served over TCP on loopback, stopped on drop.
pub struct TestServer {
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl TestServer {
    pub async fn start(app: axum::Router, limits: ConnectionLimits) -> Self {
        let (addr, stop) = emporium::server::spawn("127.0.0.1:0".parse().unwrap(), app, limits)
            .await
            .unwrap();
        Self {
            addr,
            stop: Some(stop),
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A TCP proxy on a free loopback port to `upstream`, whose open
/// connections can all be cut at once, as a restarting pooler or a broken
/// network path would: the client sees its connection lost while the
/// server goes on with what it was sent.
pub struct CuttableProxy {
    pub port: u16,
    cuts: std::sync::Arc<tokio::sync::watch::Sender<u64>>,
    accepting: tokio::task::JoinHandle<()>,
}

impl CuttableProxy {
    pub async fn to(upstream: String) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let cuts = std::sync::Arc::new(tokio::sync::watch::channel(0_u64).0);
        let watched = cuts.clone();
        let accepting = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let mut cut = watched.subscribe();
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        Self {
            port,
            cuts,
            accepting,
        }
    }

    /// Closes every connection open now; new ones still go through.
    pub fn cut(&self) {
        self.cuts.send_modify(|count| *count += 1);
    }
}

impl Drop for CuttableProxy {
    fn drop(&mut self) {
        self.accepting.abort();
        self.cut();
    }
}
