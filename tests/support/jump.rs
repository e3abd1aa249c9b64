//! A jump host's view of the simulator: `ktriage sim` as a separate process with a written
//! kubeconfig whose `ktriage/etcd` extension is stripped (a kubeconfig as Rancher hands it out: no
//! etcd access), the simulator's own description of its members (the truth to compare with), and the
//! request log.

use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use serde_json::Value;

pub struct SimProc {
    pub child: Child,
    pub dir: tempfile::TempDir,
    /// The kubeconfig without the etcd extension.
    pub kubeconfig: PathBuf,
    pub request_log: PathBuf,
    pub server: String,
    pub token: String,
    pub ready_line: String,
}

impl SimProc {
    /// `scenario`: a built-in name or a YAML text (written to a file first).
    pub fn start(scenario: &str) -> SimProc {
        let dir = tempfile::tempdir().unwrap();
        let scenario_arg = if scenario.contains('\n') {
            let p = dir.path().join("story.yaml");
            std::fs::write(&p, scenario).unwrap();
            p.display().to_string()
        } else {
            scenario.to_string()
        };
        let full = dir.path().join("full.kubeconfig");
        let request_log = dir.path().join("requests.jsonl");
        let mut child = Command::new(env!("CARGO_BIN_EXE_ktriage"))
            .args(["sim", "--plain-http", "--scenario", &scenario_arg])
            .arg("--write-kubeconfig")
            .arg(&full)
            .arg("--request-log")
            .arg(&request_log)
            .env("HOME", dir.path())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut ready_line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut ready_line)
            .unwrap();
        let mut kc: serde_json::Value =
            ktriage::yaml::from_str(&std::fs::read_to_string(&full).unwrap()).unwrap();
        let server = kc["clusters"][0]["cluster"]["server"]
            .as_str()
            .unwrap()
            .to_string();
        let token = kc["users"][0]["user"]["token"]
            .as_str()
            .unwrap()
            .to_string();
        for c in kc["contexts"].as_array_mut().unwrap() {
            if let Some(m) = c["context"].as_object_mut() {
                m.remove("extensions");
            }
        }
        let kubeconfig = dir.path().join("rancher.kubeconfig");
        std::fs::write(&kubeconfig, ktriage::yaml::to_string(&kc).unwrap()).unwrap();
        assert!(
            !std::fs::read_to_string(&kubeconfig)
                .unwrap()
                .contains("ktriage/etcd")
        );
        SimProc {
            child,
            dir,
            kubeconfig,
            request_log,
            server,
            token,
            ready_line,
        }
    }

    /// `GET path` on the simulator (plain HTTP) as the admin.
    pub fn get(&self, path: &str) -> Value {
        self.request("GET", path, "")
    }

    pub fn request(&self, method: &str, path: &str, body: &str) -> Value {
        let addr = self.server.trim_start_matches("http://");
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.token,
            body.len()
        )
        .unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        let body = text.split_once("\r\n\r\n").map(|x| x.1).unwrap_or("");
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {text}"))
    }

    /// The simulator's own account of its etcd members (`GET /_sim/etcd`).
    pub fn members(&self) -> Value {
        self.get("/_sim/etcd")
    }

    /// Every request the simulator served so far.
    pub fn requests(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.request_log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// `ktriage` with an isolated HOME, this kubeconfig and `args`.
    pub fn ktriage(&self, args: &[&str]) -> Output {
        let home = self.dir.path().join("home");
        std::fs::create_dir_all(&home).unwrap();
        ktriage_in(&home, &self.kubeconfig, args)
    }
}

impl SimProc {
    /// `ktriage GLOBAL report --format json --observe 0`: exit code and document.
    pub fn report(&self, global: &[&str]) -> (Option<i32>, Value) {
        let mut args = global.to_vec();
        args.extend(["report", "--format", "json", "--observe", "0"]);
        report_json(&self.ktriage(&args))
    }
}

pub fn ktriage_in(home: &Path, kubeconfig: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ktriage"))
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .env("HOME", home)
        .env("XDG_STATE_HOME", home.join("state"))
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("KTRIAGE_DISCOVERY_ROOT", home.join("no-node"))
        .env_remove("KUBECONFIG")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env_remove("KTRIAGE_CONFIG")
        .env_remove("ETCDCTL_ENDPOINTS")
        .env_remove("ETCDCTL_CACERT")
        .env_remove("ETCDCTL_CERT")
        .env_remove("ETCDCTL_KEY")
        .output()
        .unwrap()
}

impl Drop for SimProc {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

/// The JSON report of `out`, with the exit code.
pub fn report_json(out: &Output) -> (Option<i32>, Value) {
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: stdout {} stderr {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code(), doc)
}

pub fn findings<'a>(doc: &'a Value, id: &str) -> Vec<&'a Value> {
    doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["id"] == id)
        .collect()
}
