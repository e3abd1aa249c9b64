//! Real etcd members for tests: started from Rust on free loopback ports in a temporary directory,
//! stopped by their PID (the `Child`) in `Drop`. Mirrors `../shared/tools/etcd-cluster.sh`: the same
//! flags, the same split-brain modes, NOSPACE via a small quota, TLS with client-certificate auth (the
//! certificates generated here with rcgen).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
#![allow(dead_code)]

use std::fs::File;
use std::net::{IpAddr, Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use std::collections::BTreeMap;

use chrono::Utc;
use ktriage::config::Config;
use ktriage::etcd::client::EtcdClient;
use ktriage::etcd::probe::{Round, probe_round};
use ktriage::etcd::tls::{TlsFiles, client_config};
use ktriage::model::etcd::{AccessInfo, EtcdMsg};
use ktriage::model::{ClusterInfo, Model};
use ktriage::msg::Msg;
use ktriage::update::update;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    SanType,
};

/// Certificates for a TLS cluster: a CA, a server certificate (client and peer listeners), a client
/// certificate, and a rogue CA with its own client certificate (negative tests).
pub struct Pki {
    pub ca: PathBuf,
    pub server_crt: PathBuf,
    pub server_key: PathBuf,
    pub client_crt: PathBuf,
    pub client_key: PathBuf,
    pub rogue_ca: PathBuf,
    pub rogue_crt: PathBuf,
    pub rogue_key: PathBuf,
}

fn ca(name: &str) -> (CertificateParams, KeyPair, String) {
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name.push(DnType::CommonName, name);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let pem = p.self_signed(&key).unwrap().pem();
    (p, key, pem)
}

fn leaf(cn: &str, server: bool, issuer: &Issuer<'_, &KeyPair>) -> (String, String) {
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    p.distinguished_name.push(DnType::CommonName, cn);
    if server {
        p.subject_alt_names
            .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        p.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
    } else {
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    }
    let cert = p.signed_by(&key, issuer).unwrap();
    (cert.pem(), key.serialize_pem())
}

pub fn pki(dir: &Path) -> Pki {
    std::fs::create_dir_all(dir).unwrap();
    let (ca_p, ca_k, ca_pem) = ca("etcd-test-ca");
    let issuer = Issuer::from_params(&ca_p, &ca_k);
    let (server_crt, server_key) = leaf("etcd-server", true, &issuer);
    let (client_crt, client_key) = leaf("etcd-client", false, &issuer);
    let (rogue_p, rogue_k, rogue_pem) = ca("rogue-ca");
    let rogue_issuer = Issuer::from_params(&rogue_p, &rogue_k);
    let (rogue_crt, rogue_key) = leaf("rogue", false, &rogue_issuer);
    let w = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    Pki {
        ca: w("ca.crt", &ca_pem),
        server_crt: w("server.crt", &server_crt),
        server_key: w("server.key", &server_key),
        client_crt: w("client.crt", &client_crt),
        client_key: w("client.key", &client_key),
        rogue_ca: w("rogue-ca.crt", &rogue_pem),
        rogue_crt: w("rogue.crt", &rogue_crt),
        rogue_key: w("rogue.key", &rogue_key),
    }
}

pub struct Member {
    pub name: String,
    pub client: u16,
    pub peer: u16,
    pub metrics: u16,
    pub dir: PathBuf,
    pub log: PathBuf,
    pub child: Option<Child>,
}

#[derive(Default, Clone, Copy)]
pub struct Opts {
    pub members: usize,
    pub tls: bool,
    pub quota: Option<u64>,
}

pub struct Cluster {
    pub dir: tempfile::TempDir,
    pub members: Vec<Member>,
    pub token: String,
    pub pki: Option<Pki>,
    pub opts: Opts,
    /// Held for the cluster's life (released after its members are killed).
    _slot: Option<Slot>,
}

/// At most two real etcd clusters at once per test binary: tests run in parallel, and a dozen etcd
/// members starting together on 2 cores miss their elections (seen on a loaded CI machine).
static SLOTS: (std::sync::Mutex<usize>, std::sync::Condvar) =
    (std::sync::Mutex::new(0), std::sync::Condvar::new());
const MAX_CLUSTERS: usize = 2;

struct Slot;

impl Slot {
    fn acquire() -> Slot {
        let (m, cv) = &SLOTS;
        let mut used = m.lock().unwrap_or_else(|e| e.into_inner());
        while *used >= MAX_CLUSTERS {
            used = cv.wait(used).unwrap_or_else(|e| e.into_inner());
        }
        *used += 1;
        Slot
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let (m, cv) = &SLOTS;
        let mut used = m.lock().unwrap_or_else(|e| e.into_inner());
        *used = used.saturating_sub(1);
        cv.notify_one();
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for m in &mut self.members {
            if let Some(mut c) = m.child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

/// A free loopback port (bound to port 0, then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Cluster {
    /// Start `opts.members` members and wait until all are healthy. `None` (skip) when etcd is not
    /// installed outside CI; under CI (`under_ci`) a missing etcd fails the test.
    pub fn start(opts: Opts) -> Option<Cluster> {
        super::require_tool("etcd")?;
        super::require_tool("etcdctl")?;
        let slot = Slot::acquire();
        // a second try on fresh ports covers a port another test took between `free_port` and bind
        match Self::try_start(opts) {
            Ok(c) => Some(c.with_slot(slot)),
            Err(first) => match Self::try_start(opts) {
                Ok(c) => Some(c.with_slot(slot)),
                Err(second) => panic!("cluster did not become healthy twice: {first}; {second}"),
            },
        }
    }

    fn with_slot(mut self, slot: Slot) -> Cluster {
        self._slot = Some(slot);
        self
    }

    fn try_start(opts: Opts) -> Result<Cluster, String> {
        let dir = tempfile::tempdir().unwrap();
        let pki = opts.tls.then(|| pki(&dir.path().join("pki")));
        let members = (1..=opts.members)
            .map(|i| {
                let d = dir.path().join(format!("m{i}"));
                std::fs::create_dir_all(&d).unwrap();
                Member {
                    name: format!("m{i}"),
                    client: free_port(),
                    peer: free_port(),
                    metrics: free_port(),
                    log: d.join("etcd.log"),
                    dir: d,
                    child: None,
                }
            })
            .collect();
        let mut c = Cluster {
            token: format!("ktriage-test-{}", fastrand::u32(..)),
            dir,
            members,
            pki,
            opts,
            _slot: None,
        };
        let ic = c.initial_cluster();
        for i in 0..c.members.len() {
            c.launch(i, &c.token.clone(), &ic, "new");
        }
        if c.wait_healthy(&c.endpoints(), Duration::from_secs(60)) {
            Ok(c)
        } else {
            let tail: String = c
                .members
                .iter()
                .filter_map(|m| std::fs::read_to_string(&m.log).ok())
                .flat_map(|l| {
                    l.lines()
                        .rev()
                        .take(3)
                        .map(str::to_string)
                        .collect::<Vec<_>>()
                })
                .collect::<Vec<_>>()
                .join("\n");
            Err(format!("not healthy in 60 s; last log lines:\n{tail}"))
        }
    }

    fn scheme(&self) -> &'static str {
        if self.opts.tls { "https" } else { "http" }
    }

    pub fn client_url(&self, i: usize) -> String {
        format!("{}://127.0.0.1:{}", self.scheme(), self.members[i].client)
    }

    pub fn peer_url(&self, i: usize) -> String {
        format!("{}://127.0.0.1:{}", self.scheme(), self.members[i].peer)
    }

    pub fn endpoints(&self) -> Vec<String> {
        (0..self.members.len())
            .map(|i| self.client_url(i))
            .collect()
    }

    fn initial_cluster(&self) -> String {
        (0..self.members.len())
            .map(|i| format!("{}={}", self.members[i].name, self.peer_url(i)))
            .collect::<Vec<_>>()
            .join(",")
    }

    fn launch(&mut self, i: usize, token: &str, ic: &str, state: &str) {
        let (client, peer) = (self.client_url(i), self.peer_url(i));
        let m = &self.members[i];
        let mut args: Vec<String> = vec![
            "--name".into(),
            m.name.clone(),
            "--data-dir".into(),
            m.dir.join("data").display().to_string(),
            "--listen-client-urls".into(),
            client.clone(),
            "--advertise-client-urls".into(),
            client,
            "--listen-peer-urls".into(),
            peer.clone(),
            "--initial-advertise-peer-urls".into(),
            peer,
            "--listen-metrics-urls".into(),
            format!("http://127.0.0.1:{}", m.metrics),
            "--initial-cluster".into(),
            ic.into(),
            "--initial-cluster-token".into(),
            token.into(),
            "--initial-cluster-state".into(),
            state.into(),
            "--logger".into(),
            "zap".into(),
            "--log-outputs".into(),
            "stderr".into(),
        ];
        if let Some(q) = self.opts.quota {
            args.extend(["--quota-backend-bytes".into(), q.to_string()]);
        }
        if let Some(p) = &self.pki {
            for (flag, path) in [
                ("--cert-file", &p.server_crt),
                ("--key-file", &p.server_key),
                ("--trusted-ca-file", &p.ca),
                ("--peer-cert-file", &p.server_crt),
                ("--peer-key-file", &p.server_key),
                ("--peer-trusted-ca-file", &p.ca),
            ] {
                args.extend([flag.to_string(), path.display().to_string()]);
            }
            args.extend([
                "--client-cert-auth".into(),
                "--peer-client-cert-auth".into(),
            ]);
        }
        let log = File::options()
            .create(true)
            .append(true)
            .open(&m.log)
            .unwrap();
        let child = Command::new("etcd")
            .args(&args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.members[i].child = Some(child);
    }

    /// etcdctl against `endpoints` with the cluster's TLS files.
    /// `etcdctl endpoint health` once every member has settled: a member just re-bootstrapped as an
    /// island needs an election before it commits (longer on a loaded machine), so poll for success
    /// with a deadline and return the last answer.
    pub fn settled_health(&self) -> Output {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let out = self.etcdctl(&self.endpoints(), &["endpoint", "health"]);
            if out.status.success() || std::time::Instant::now() > deadline {
                return out;
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    }

    pub fn etcdctl(&self, endpoints: &[String], args: &[&str]) -> Output {
        let mut cmd = Command::new("etcdctl");
        cmd.env("ETCDCTL_API", "3")
            .arg(format!("--endpoints={}", endpoints.join(",")))
            .arg("--dial-timeout=1s")
            .arg("--command-timeout=3s");
        if let Some(p) = &self.pki {
            cmd.arg(format!("--cacert={}", p.ca.display()))
                .arg(format!("--cert={}", p.client_crt.display()))
                .arg(format!("--key={}", p.client_key.display()));
        }
        cmd.args(args).output().unwrap()
    }

    /// Poll `etcdctl endpoint health` until it passes or `within` runs out.
    pub fn wait_healthy(&self, endpoints: &[String], within: Duration) -> bool {
        let deadline = Instant::now() + within;
        loop {
            let mut cmd = Command::new("etcdctl");
            cmd.env("ETCDCTL_API", "3")
                .arg(format!("--endpoints={}", endpoints.join(",")))
                .args(["--dial-timeout=300ms", "--command-timeout=1s"]);
            if let Some(p) = &self.pki {
                cmd.arg(format!("--cacert={}", p.ca.display()))
                    .arg(format!("--cert={}", p.client_crt.display()))
                    .arg(format!("--key={}", p.client_key.display()));
            }
            let ok = cmd
                .args(["endpoint", "health"])
                .output()
                .map(|o| o.status.success())
                .unwrap_or(false);
            if ok {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stop member `i` (SIGKILL to its PID); it stays in the member list, like a crashed node.
    pub fn stop_member(&mut self, i: usize) {
        if let Some(mut c) = self.members[i].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Wipe member `i`'s data and re-bootstrap it with another token on the same ports: `island`
    /// makes it a one-member cluster of its own; otherwise it rejoins with the full initial cluster
    /// and never gets a leader (its client port accepts TCP but never answers).
    pub fn split_brain(&mut self, i: usize, island: bool) {
        self.stop_member(i);
        let data = self.members[i].dir.join("data");
        std::fs::rename(&data, self.members[i].dir.join("data.before-split")).unwrap();
        let token = format!("{}-split-{i}", self.token);
        let ic = if island {
            format!("{}={}", self.members[i].name, self.peer_url(i))
        } else {
            self.initial_cluster()
        };
        self.launch(i, &token, &ic, "new");
        if island {
            assert!(
                self.wait_healthy(&[self.client_url(i)], Duration::from_secs(30)),
                "island member did not become healthy"
            );
        }
    }

    /// `etcdctl member list` as hex ID → client URL, asked of endpoint `via`.
    pub fn member_ids(&self, via: usize) -> Vec<(String, String)> {
        let out = self.etcdctl(&[self.client_url(via)], &["member", "list"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split(", ").collect();
                (f.len() >= 5).then(|| (f[0].to_string(), f[4].to_string()))
            })
            .collect()
    }

    /// The member ID (hex) endpoint `i` answers as, per `etcdctl endpoint status -w json`.
    pub fn answering_id(&self, i: usize) -> u64 {
        let out = self.etcdctl(&[self.client_url(i)], &["endpoint", "status", "-w", "json"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v[0]["Status"]["header"]["member_id"].as_u64().unwrap()
    }

    /// Write 64 KiB values until etcd refuses with "database space exceeded".
    pub fn fill_until_nospace(&self) -> String {
        let value = "x".repeat(64 * 1024);
        for n in 0..400 {
            let out = self.etcdctl(&self.endpoints(), &["put", &format!("/fill/{n}"), &value]);
            if !out.status.success() {
                return String::from_utf8_lossy(&out.stderr).to_string();
            }
        }
        panic!("no NOSPACE after 400 puts");
    }

    pub fn log_lines(&self, i: usize) -> Vec<String> {
        std::fs::read_to_string(&self.members[i].log)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }
}

/// The direct probe's per-request timeout in these tests.
pub const TIMEOUT: Duration = Duration::from_secs(2);

pub fn client(c: &Cluster) -> EtcdClient {
    let tls = c.pki.as_ref().map(|p| {
        client_config(&TlsFiles {
            cacert: Some(p.ca.clone()),
            cert: Some(p.client_crt.clone()),
            key: Some(p.client_key.clone()),
        })
        .unwrap()
    });
    EtcdClient::new(tls, None, TIMEOUT)
}

/// One probe round through the model and the rules, as the TUI and the report do it.
pub async fn observe(c: &Cluster) -> (Round, Model) {
    let cl = client(c);
    let started = Utc::now();
    let t = Instant::now();
    let endpoints = probe_round(&cl, &c.endpoints(), &mut BTreeMap::new()).await;
    let round = Round {
        started,
        took_ms: t.elapsed().as_millis() as u64,
        endpoints,
    };
    let mut m = Model::new(
        ClusterInfo::default(),
        Config::defaults().unwrap().keymap,
        started,
    );
    m.etcd.configure(
        AccessInfo {
            endpoints: c.endpoints(),
            origin: "test".into(),
            tls: c.opts.tls,
        },
        started,
    );
    update(
        &mut m,
        Msg::Etcd(Box::new(EtcdMsg::Round(round.clone()))),
        Utc::now(),
    );
    (round, m)
}

/// Probe until `done` accepts the findings or the deadline passes (no sleeping for behaviour).
pub async fn until(c: &Cluster, within: Duration, done: impl Fn(&Model) -> bool) -> (Round, Model) {
    let deadline = Instant::now() + within;
    loop {
        let (r, m) = observe(c).await;
        if done(&m) || Instant::now() > deadline {
            return (r, m);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `ktriage report --format json --observe 0 ARGS` with no kubeconfig: exit code and document.
pub async fn report_json(args: &[&str]) -> (i32, serde_json::Value) {
    let home = tempfile::tempdir().unwrap();
    let mut all = vec!["report", "--format", "json", "--observe", "0"];
    all.extend_from_slice(args);
    let all: Vec<String> = all.iter().map(|s| s.to_string()).collect();
    let home_path = home.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_ktriage"))
            .args(&all)
            .env("HOME", &home_path)
            .env("XDG_STATE_HOME", home_path.join("state"))
            .env("XDG_CONFIG_HOME", home_path.join("config"))
            .env("KTRIAGE_DISCOVERY_ROOT", &home_path)
            .env_remove("KUBECONFIG")
            .env_remove("KUBERNETES_SERVICE_HOST")
            .env_remove("KTRIAGE_CONFIG")
            .env_remove("ETCDCTL_ENDPOINTS")
            .env_remove("ETCDCTL_CACERT")
            .env_remove("ETCDCTL_CERT")
            .env_remove("ETCDCTL_KEY")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let doc = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap(), doc)
}
