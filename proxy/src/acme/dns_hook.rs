//! DNS-01 through the operator's hook: a command run as `<command...> set|clear <name> <value>`
//! (also given as `GATEHOUSE_ACME_ACTION`, `GATEHOUSE_ACME_NAME`, `GATEHOUSE_ACME_VALUE` in
//! its environment), or a JSON POST `{"action","name","value"}` to a URL. `name` is the full
//! record name with a trailing dot, e.g. `_acme-challenge.example.com.`.

use super::http::AcmeHttp;
use gatehouse_config::tls::{DnsHook, DnsHookTarget};
use std::process::Stdio;

/// What the hook is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Action {
    /// Create the TXT record.
    Set,
    /// Remove it.
    Clear,
}

impl Action {
    fn as_str(self) -> &'static str {
        match self {
            Action::Set => "set",
            Action::Clear => "clear",
        }
    }
}

/// The `_acme-challenge` record name for a (possibly wildcard) DNS name.
pub(super) fn record_name(domain: &str) -> String {
    format!("_acme-challenge.{}.", domain.trim_start_matches("*."))
}

/// Run the hook once. The error says what the hook did wrong.
pub(super) async fn call(
    hook: &DnsHook,
    http: &AcmeHttp,
    action: Action,
    name: &str,
    value: &str,
) -> Result<(), String> {
    let run = async {
        match &hook.target {
            DnsHookTarget::Command(argv) => {
                let (program, args) = argv
                    .split_first()
                    .ok_or_else(|| "dns_hook.command is empty".to_string())?;
                let out = tokio::process::Command::new(program)
                    .args(args)
                    .args([action.as_str(), name, value])
                    .env("GATEHOUSE_ACME_ACTION", action.as_str())
                    .env("GATEHOUSE_ACME_NAME", name)
                    .env("GATEHOUSE_ACME_VALUE", value)
                    .stdin(Stdio::null())
                    .kill_on_drop(true)
                    .output()
                    .await
                    .map_err(|e| format!("cannot run `{program}`: {e}"))?;
                if out.status.success() {
                    Ok(())
                } else {
                    let stderr = String::from_utf8_lossy(&out.stderr);
                    Err(format!(
                        "`{program}` exited with {}: {}",
                        out.status,
                        stderr.trim()
                    ))
                }
            }
            DnsHookTarget::Url(url) => {
                let body = serde_json::json!({
                    "action": action.as_str(),
                    "name": name,
                    "value": value,
                });
                let status = http
                    .post_json(url, body.to_string().into_bytes())
                    .await
                    .map_err(|e| format!("POST {url}: {e}"))?;
                if status.is_success() {
                    Ok(())
                } else {
                    Err(format!("POST {url} answered {status}"))
                }
            }
        }
    };
    match tokio::time::timeout(hook.timeout, run).await {
        Ok(r) => r,
        Err(_) => Err(format!(
            "the DNS hook did not finish within {:?}",
            hook.timeout
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn record_names_drop_the_wildcard() {
        assert_eq!(record_name("*.example.com"), "_acme-challenge.example.com.");
        assert_eq!(
            record_name("www.example.com"),
            "_acme-challenge.www.example.com."
        );
    }

    #[tokio::test]
    async fn a_command_gets_action_name_and_value_and_its_failure_is_explained() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("calls");
        let script = format!("echo \"$@|$GATEHOUSE_ACME_ACTION\" >> {}", out.display());
        let hook = DnsHook {
            target: DnsHookTarget::Command(vec!["sh".into(), "-c".into(), script, "hook".into()]),
            propagation_delay: Duration::ZERO,
            timeout: Duration::from_secs(10),
        };
        let http = AcmeHttp::new(None).unwrap();
        call(&hook, &http, Action::Set, "_acme-challenge.a.test.", "v1")
            .await
            .unwrap();
        let calls = std::fs::read_to_string(&out).unwrap();
        assert_eq!(calls.trim(), "set _acme-challenge.a.test. v1|set");

        let failing = DnsHook {
            target: DnsHookTarget::Command(vec![
                "sh".into(),
                "-c".into(),
                "echo denied >&2; exit 3".into(),
            ]),
            ..hook
        };
        let err = call(&failing, &http, Action::Clear, "n", "v")
            .await
            .unwrap_err();
        assert!(err.contains("denied") && err.contains('3'), "{err}");
    }
}
