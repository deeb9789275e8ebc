//! `gatehouse init`: a commented starter config for one site behind automatic HTTPS, checked
//! before it is written (it must pass `gatehouse check` as it is).

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

/// What `init` was asked for.
pub(crate) struct Starter<'a> {
    /// The site's names; the first is the main one.
    pub domains: &'a [String],
    /// `host:port` of the application.
    pub upstream: &'a str,
    /// The ACME account's contact, when given.
    pub email: Option<&'a str>,
}

pub(crate) fn init(starter: &Starter<'_>, output: &Path, force: bool) -> ExitCode {
    let text = match starter.render() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("gatehouse init: {e}");
            return ExitCode::from(2);
        }
    };
    // The environment is not consulted: the starter names no `${VAR}`.
    if let Err(e) = gatehouse_config::Config::from_yaml_with_env(&text, &|_| None) {
        eprintln!("gatehouse init: these values do not make a valid config:\n{e}");
        return ExitCode::from(2);
    }
    if output == Path::new("-") {
        print!("{text}");
        return ExitCode::SUCCESS;
    }
    let mut open = std::fs::OpenOptions::new();
    open.write(true);
    if force {
        open.create(true).truncate(true);
    } else {
        open.create_new(true);
    }
    let written = open
        .open(output)
        .and_then(|mut f| f.write_all(text.as_bytes()));
    match written {
        Ok(()) => {
            println!(
                "gatehouse init: wrote {0}; try it with `gatehouse check --config {0}`",
                output.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            eprintln!(
                "gatehouse init: {} exists; pass --force to replace it, or --output another file (`-` for standard output)",
                output.display()
            );
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("gatehouse init: cannot write {}: {e}", output.display());
            ExitCode::from(1)
        }
    }
}

/// A name a certificate can be ordered for over HTTP-01: no wildcard, no scheme, no port.
fn check_domain(d: &str) -> Result<(), String> {
    let ok = !d.is_empty()
        && d.len() <= 253
        && d.contains('.')
        && d.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{d}` is not a domain name gatehouse can get a certificate for over HTTP-01 (e.g. `example.com`; a wildcard needs DNS-01, see config/examples/reference.yaml)"
        ))
    }
}

impl Starter<'_> {
    fn render(&self) -> Result<String, String> {
        let Some(main) = self.domains.first() else {
            return Err("give the site's name with --domain".to_string());
        };
        for d in self.domains {
            check_domain(d)?;
        }
        if self.upstream.is_empty() || self.upstream.contains(['"', '\\', '\n']) {
            return Err(format!(
                "`{}` is not an address; write HOST:PORT, e.g. `127.0.0.1:3000`",
                self.upstream
            ));
        }
        let names = self.domains.join(", ");
        let email = match self.email {
            Some(e) if e.contains(['"', '\\', '\n']) => {
                return Err(format!("`{e}` is not an email address"))
            }
            Some(e) => format!("    email: \"{e}\"                # expiry notices from the CA"),
            None => "    # email: ops@example.com       # expiry notices from the CA (optional)"
                .to_string(),
        };
        let upstream = self.upstream;
        Ok(format!(
            r#"# gatehouse starter config for {main}, written by `gatehouse init`.
# Check it with `gatehouse check --config FILE`; every setting there is, with its default, is
# in config/examples/reference.yaml. For completion and checks in your editor, write the
# schema next to this file (`gatehouse schema > gatehouse.schema.json`) and add this line:
#   # yaml-language-server: $schema=gatehouse.schema.json
#
# Before starting: DNS for {names} must point at this machine, and ports 80 and
# 443 must be reachable from the internet (Let's Encrypt connects to port 80 to validate).

# Certificates, the ACME account and the probe and incident history are kept in `state_dir`.
# Not set here: the systemd unit's StateDirectory (/var/lib/gatehouse) when run as a service,
# the container's /var/lib/gatehouse volume, else `gatehouse-data` in the working directory.
# state_dir: /var/lib/gatehouse

listeners:
  - {{ name: http, address: "0.0.0.0:80" }}                # redirects to https, answers ACME
  - {{ name: https, address: "0.0.0.0:443", tls: true }}   # HTTP/2 and HTTP/1.1

tls:
  acme:
    # Try Let's Encrypt's staging CA first (`letsencrypt-staging`): generous rate limits,
    # certificates browsers do not trust. Then switch to `letsencrypt`.
    directory: letsencrypt
{email}
    certificates:
      - names: [{names}]

upstreams:
  app:
    backends:
      - address: "{upstream}"
    # Taken out of rotation while it does not accept connections; an HTTP check of a
    # health endpoint is better where the app has one:
    #   health_check: {{ type: http, path: /healthz, interval: 5s }}
    health_check: {{ type: tcp, interval: 5s }}

routes:
  - name: app
    hosts: [{names}]
    upstream: app
    timeouts: {{ connect: 5s, read: 60s }}
    max_body_size: 10MiB

# The admin listener (health, readiness, Prometheus metrics, the admin API) stays on loopback:
# curl http://127.0.0.1:9901/readyz, or `gatehouse health`.
admin:
  listen: "127.0.0.1:9901"

# An uptime check of the application itself; the built-in alert rules watch it, the traffic
# and the certificates with no more config.
probes:
  - name: app
    tcp: {{ address: "{upstream}" }}
    interval: 30s

# To be told when something is wrong, add a notifier (see the README, Alerting):
# alerting:
#   notifiers:
#     - {{ name: ops, type: slack, webhook_url: "${{SLACK_WEBHOOK_URL}}" }}
"#
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_starter_is_a_valid_config_and_bad_names_are_refused() {
        let domains = ["example.com".to_string(), "www.example.com".to_string()];
        let s = Starter {
            domains: &domains,
            upstream: "127.0.0.1:3000",
            email: Some("ops@example.com"),
        };
        let text = s.render().expect("render");
        let c = gatehouse_config::Config::from_yaml_with_env(&text, &|_| None).expect("valid");
        assert_eq!(c.routes[0].name, "app");
        assert!(text.contains("names: [example.com, www.example.com]"));
        for bad in [
            "*.example.com",
            "https://example.com",
            "example.com:443",
            "localhost",
        ] {
            let domains = [bad.to_string()];
            let s = Starter {
                domains: &domains,
                upstream: "127.0.0.1:3000",
                email: None,
            };
            assert!(s.render().is_err(), "{bad}");
        }
    }
}
