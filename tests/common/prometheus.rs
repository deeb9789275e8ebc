#![allow(clippy::unwrap_used)] // test helpers panic on purpose

//! A real Prometheus for tests (Debian package `prometheus`: `prometheus` and `promtool`) on a
//! free loopback port, scraping one target every second and evaluating rule files every
//! second, ended by pid; and the metric names and selectors of a PromQL expression.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The path of a binary of the `prometheus` package, or a panic that says how to get it.
pub fn binary(name: &str) -> PathBuf {
    let found = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .chain([PathBuf::from("/usr/bin")])
        .map(|dir| dir.join(name))
        .find(|p| p.is_file());
    found.unwrap_or_else(|| {
        panic!(
            "`{name}` is missing: install the Debian package `prometheus` \
             (apt-get install -y prometheus, or scripts/setup.sh --test)"
        )
    })
}

/// `promtool check rules FILE`: whether it passed, and what promtool said.
pub fn check_rules(file: &Path) -> (bool, String) {
    let out = Command::new(binary("promtool"))
        .args(["check", "rules"])
        .arg(file)
        .output()
        .expect("run promtool");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

pub struct Prometheus {
    child: Child,
    pub port: u16,
    dir: tempfile::TempDir,
    client: reqwest::Client,
}

impl Prometheus {
    /// Start scraping `target` (`host:port`, path `/metrics`) as job `gatehouse`, with
    /// `rule_files`, and wait until its API answers.
    pub async fn start(target: &str, rule_files: &[&Path]) -> Prometheus {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = super::free_port();
        let rules: Vec<String> = rule_files
            .iter()
            .map(|f| format!("\"{}\"", f.display()))
            .collect();
        let config = format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
             rule_files: [{}]\n\
             scrape_configs:\n  - job_name: gatehouse\n    static_configs:\n      - targets: [\"{target}\"]\n",
            rules.join(", ")
        );
        let config_path = dir.path().join("prometheus.yml");
        std::fs::write(&config_path, config).expect("write prometheus.yml");
        let log = std::fs::File::create(dir.path().join("prometheus.log")).expect("log file");
        let child = Command::new(binary("prometheus"))
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().expect("clone")))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn prometheus");
        let mut p = Prometheus {
            child,
            port,
            dir,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = p.client.get(p.url("/-/ready")).send().await;
            if ready.is_ok_and(|r| r.status() == 200) {
                return p;
            }
            if let Ok(Some(status)) = p.child.try_wait() {
                panic!("prometheus exited with {status}; log:\n{}", p.log());
            }
            if Instant::now() > deadline {
                panic!("prometheus did not become ready; log:\n{}", p.log());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default()
    }

    /// `/api/v1/query` at now: the whole answer (`status`, `data` or `error`), whatever the
    /// HTTP status (a bad query is a 400 with a JSON body).
    pub async fn query(&self, expr: &str) -> Value {
        let r = self
            .client
            .get(self.url("/api/v1/query"))
            .query(&[("query", expr)])
            .send()
            .await
            .expect("prometheus query");
        r.json().await.expect("prometheus answers JSON")
    }

    /// The result vector of a successful query (empty on an error).
    pub async fn series(&self, expr: &str) -> Vec<Value> {
        let v = self.query(expr).await;
        v["data"]["result"].as_array().cloned().unwrap_or_default()
    }

    /// `/api/v1/rules`: the loaded rule groups with each rule's health and state.
    pub async fn rules(&self) -> Vec<Value> {
        let v: Value = self
            .client
            .get(self.url("/api/v1/rules"))
            .send()
            .await
            .expect("prometheus rules")
            .json()
            .await
            .expect("rules JSON");
        v["data"]["groups"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
            .collect()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One vector selector of an expression: the metric name (empty for `{__name__=...}`) and the
/// raw text between its braces.
#[derive(Clone, Debug, PartialEq)]
pub struct Selector {
    pub name: String,
    pub matchers: String,
}

/// Identifiers that are PromQL keywords or aggregation operators, never metric names.
const KEYWORDS: &[&str] = &[
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "inf",
    "nan",
    "atan2",
    "start",
    "end",
];

/// Keywords followed by a parenthesised list of label names.
const LABEL_LISTS: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

/// The vector selectors of a PromQL expression: every identifier that is not a function (an
/// identifier followed by `(`), a keyword, a label name (inside `{...}` or in a `by (...)`
/// list), a string, a number or a duration. Grafana variables may stand inside strings and
/// `[...]`; anywhere else they are an error.
pub fn selectors(expr: &str) -> Result<Vec<Selector>, String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut out: Vec<Selector> = Vec::new();
    let mut i = 0;
    // Whether the last token was a metric name that a `{...}` would belong to.
    let mut open_name: Option<usize> = None;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '#' => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '"' | '\'' | '`' => {
                i = skip_string(&chars, i)?;
                open_name = None;
            }
            '{' => {
                let end = closing(&chars, i, '{', '}')?;
                let matchers: String = chars[i + 1..end].iter().collect();
                match open_name.take() {
                    Some(n) => out[n].matchers = matchers,
                    None => out.push(Selector {
                        name: String::new(),
                        matchers,
                    }),
                }
                i = end + 1;
            }
            '[' => {
                i = closing(&chars, i, '[', ']')? + 1;
                open_name = None;
            }
            c if c.is_ascii_digit()
                || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) =>
            {
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                    i += 1;
                }
                open_name = None;
            }
            c if c.is_ascii_alphabetic() || c == '_' || c == ':' => {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == ':')
                {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                let mut next = i;
                while next < chars.len() && chars[next].is_whitespace() {
                    next += 1;
                }
                let call = chars.get(next) == Some(&'(');
                open_name = None;
                if LABEL_LISTS.contains(&word.as_str()) {
                    if call {
                        i = closing(&chars, next, '(', ')')? + 1;
                    }
                } else if !call && !KEYWORDS.contains(&word.as_str()) {
                    out.push(Selector {
                        name: word,
                        matchers: String::new(),
                    });
                    open_name = Some(out.len() - 1);
                }
            }
            '$' => return Err(format!("a variable outside a string or range in `{expr}`")),
            _ => {
                i += 1;
                open_name = None;
            }
        }
    }
    Ok(out)
}

/// The index after the string literal starting at `start`.
fn skip_string(chars: &[char], start: usize) -> Result<usize, String> {
    let quote = chars[start];
    let mut i = start + 1;
    while i < chars.len() {
        match chars[i] {
            '\\' if quote != '`' => i += 2,
            c if c == quote => return Ok(i + 1),
            _ => i += 1,
        }
    }
    Err("an unterminated string".into())
}

/// The index of the `close` that ends the `open` at `start`, skipping strings.
fn closing(chars: &[char], start: usize, open: char, close: char) -> Result<usize, String> {
    let mut depth = 0;
    let mut i = start;
    while i < chars.len() {
        match chars[i] {
            '"' | '\'' | '`' => {
                i = skip_string(chars, i)?;
                continue;
            }
            c if c == open => depth += 1,
            c if c == close => {
                depth -= 1;
                if depth == 0 {
                    return Ok(i);
                }
            }
            _ => {}
        }
        i += 1;
    }
    Err(format!("an unclosed `{open}`"))
}

/// Grafana's variables replaced the way a test evaluates a dashboard: the interval variables
/// by fixed durations, every other `$name`, `${name}` or `[[name]]` by `.*`.
pub fn substitute(expr: &str) -> String {
    let mut s = expr
        .replace("$__rate_interval", "1m")
        .replace("${__rate_interval}", "1m")
        .replace("$__interval", "15s")
        .replace("${__interval}", "15s")
        .replace("$__range", "5m")
        .replace("${__range}", "5m");
    let mut out = String::with_capacity(s.len());
    while let Some(pos) = s.find(['$', '[']) {
        out.push_str(&s[..pos]);
        let rest = &s[pos..];
        let name_len = |t: &str| {
            t.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(t.len())
        };
        let skip = if let Some(t) = rest.strip_prefix("${") {
            t.find('}').map(|e| e + 3)
        } else if let Some(t) = rest.strip_prefix("[[") {
            t.find("]]").map(|e| e + 4)
        } else if let Some(t) = rest.strip_prefix('$') {
            Some(name_len(t) + 1).filter(|&n| n > 1)
        } else {
            None
        };
        match skip {
            Some(n) => {
                out.push_str(".*");
                s = rest[n..].to_string();
            }
            None => {
                out.push_str(&rest[..1]);
                s = rest[1..].to_string();
            }
        }
    }
    out.push_str(&s);
    out
}

/// Sample names in a text exposition (histograms give `_bucket`, `_sum` and `_count`).
pub fn exposed_names(text: &str) -> std::collections::BTreeSet<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_string)
        .collect()
}
