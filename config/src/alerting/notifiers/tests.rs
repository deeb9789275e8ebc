//! `alerting.notifiers`: every kind with its defaults and overrides, secrets from the
//! environment, and mistakes reported with their path and line.
#![allow(clippy::unwrap_used)]

use super::*;
use crate::{Config, ConfigErrors};
use std::time::Duration;

const BASE: &str = "listeners: [{ name: http, address: \"127.0.0.1:8080\" }]\nupstreams:\n  app: { backends: [{ address: \"127.0.0.1:3000\" }] }\nroutes:\n  - { name: app, upstream: app }\n";

fn parse(notifiers: &str) -> Result<Config, ConfigErrors> {
    let env = |name: &str| match name {
        "SLACK_URL" => Some("https://hooks.slack.com/services/T0/B0/xyz".to_string()),
        "PD_KEY" => Some("R0UT1NGKEY".to_string()),
        "SMTP_PASSWORD" => Some("hunter2".to_string()),
        "EMPTY" => Some(String::new()),
        _ => None,
    };
    Config::from_yaml_with_env(&format!("{BASE}alerting:\n  notifiers:\n{notifiers}"), &env)
}

fn notifiers(yaml: &str) -> Vec<Notifier> {
    match parse(yaml) {
        Ok(c) => c.alerting.notifiers,
        Err(e) => panic!("{e}"),
    }
}

/// The problems as `path: message`, each with its line.
fn problems(yaml: &str) -> Vec<(String, Option<usize>, String)> {
    parse(yaml)
        .unwrap_err()
        .errors
        .into_iter()
        .map(|e| (e.path, e.line, e.message))
        .collect()
}

fn has(yaml: &str, path: &str, needle: &str) -> usize {
    let p = problems(yaml);
    let found = p.iter().find(|(pa, _, m)| pa == path && m.contains(needle));
    match found {
        Some((_, line, _)) => line.unwrap_or_else(|| panic!("no line for {path}")),
        None => panic!("no `{needle}` at {path} in {p:?}"),
    }
}

#[test]
fn webhook_with_defaults_and_every_option() {
    let n = notifiers(
        r#"    - { name: plain, type: webhook, url: "http://127.0.0.1:9000/hook" }
    - name: signed
      type: webhook
      url: https://example.com/in
      timeout: 3s
      retries: 5
      headers: { X-Team: ops }
      secret: s3cret
      template: '{"msg": "{{title}}: {{ text }}", "raw": {{json}}}'
      content_type: application/vnd.example+json
"#,
    );
    assert_eq!(n.len(), 2);
    assert_eq!(n[0].name, "plain");
    assert_eq!((n[1].timeout, n[1].retries), (Duration::from_secs(3), 5));
    assert!(n[0].timeout > Duration::ZERO);
    let NotifierKind::Webhook(w) = &n[0].kind else {
        panic!("webhook")
    };
    assert_eq!(w.url, Secret("http://127.0.0.1:9000/hook".into()));
    assert_eq!(
        (
            w.secret.is_none(),
            w.template.is_none(),
            w.content_type.as_str()
        ),
        (true, true, "application/json")
    );
    let NotifierKind::Webhook(w) = &n[1].kind else {
        panic!("webhook")
    };
    assert_eq!(w.headers, vec![("x-team".into(), Secret("ops".into()))]);
    assert_eq!(w.secret, Some(Secret("s3cret".into())));
    assert!(w.template.as_deref().unwrap().contains("{{json}}"));
    assert_eq!(w.content_type, "application/vnd.example+json");
    assert_eq!(n[1].kind.type_name(), "webhook");
    // Secrets never show in debug output.
    assert!(!format!("{:?}", n[1]).contains("s3cret"));
}

#[test]
fn timeout_and_retries_default_to_the_section_then_to_10s_and_3() {
    let n = notifiers("    - { name: a, type: ntfy, topic: a }\n");
    assert_eq!((n[0].timeout, n[0].retries), (Duration::from_secs(10), 3));
    let yaml = format!(
        "{BASE}alerting:\n  timeout: 4s\n  retries: 1\n  notifiers:\n    - {{ name: a, type: ntfy, topic: a }}\n    - {{ name: b, type: ntfy, topic: b, timeout: 2s, retries: 0 }}\n"
    );
    let n = Config::from_yaml(&yaml).unwrap().alerting.notifiers;
    assert_eq!((n[0].timeout, n[0].retries), (Duration::from_secs(4), 1));
    assert_eq!((n[1].timeout, n[1].retries), (Duration::from_secs(2), 0));
}

#[test]
fn chat_kinds_take_their_url_from_the_environment() {
    let n = notifiers(
        r#"    - { name: s, type: slack, webhook_url: "${SLACK_URL}" }
    - { name: d, type: discord, webhook_url: "https://discord.com/api/webhooks/1/abc" }
    - { name: t, type: teams, webhook_url: "https://prod.example.logic.azure.com/workflows/1" }
"#,
    );
    let NotifierKind::Slack(s) = &n[0].kind else {
        panic!("slack")
    };
    assert_eq!(
        s.webhook_url.0,
        "https://hooks.slack.com/services/T0/B0/xyz"
    );
    assert!(!format!("{:?}", n[0]).contains("hooks.slack.com"));
    assert!(matches!(&n[1].kind, NotifierKind::Discord(d) if d.webhook_url.0.ends_with("/1/abc")));
    assert!(matches!(&n[2].kind, NotifierKind::Teams(t) if t.webhook_url.0.contains("workflows")));
}

#[test]
fn incident_kinds_default_their_endpoints() {
    let n = notifiers(
        r#"    - { name: pd, type: pagerduty, routing_key: "${PD_KEY}" }
    - { name: pd2, type: pagerduty, routing_key: k, url: "http://127.0.0.1:1/v2/enqueue" }
    - { name: og, type: opsgenie, api_key: key1 }
    - { name: og-eu, type: opsgenie, api_key: key2, url: "https://api.eu.opsgenie.com/" }
"#,
    );
    let NotifierKind::PagerDuty(p) = &n[0].kind else {
        panic!("pagerduty")
    };
    assert_eq!(
        (p.routing_key.0.as_str(), p.url.as_str()),
        ("R0UT1NGKEY", "https://events.pagerduty.com/v2/enqueue")
    );
    assert!(
        matches!(&n[1].kind, NotifierKind::PagerDuty(p) if p.url == "http://127.0.0.1:1/v2/enqueue")
    );
    let NotifierKind::Opsgenie(o) = &n[2].kind else {
        panic!("opsgenie")
    };
    assert_eq!(
        (o.api_key.0.as_str(), o.url.as_str()),
        ("key1", "https://api.opsgenie.com")
    );
    // A trailing slash is dropped so paths join cleanly.
    assert!(
        matches!(&n[3].kind, NotifierKind::Opsgenie(o) if o.url == "https://api.eu.opsgenie.com")
    );
}

#[test]
fn email_defaults_to_starttls_on_587() {
    let n = notifiers(
        r#"    - name: mail
      type: email
      host: smtp.example.com
      username: alerts
      password: "${SMTP_PASSWORD}"
      from: "Gatehouse <alerts@example.com>"
      to: [ops@example.com, "On Call <oncall@example.org>"]
    - { name: local, type: email, host: 127.0.0.1, port: 2525, tls: none, from: a@localhost, to: [b@localhost] }
    - { name: smtps, type: email, host: smtp.example.com, tls: tls, from: a@example.com, to: [b@example.com] }
"#,
    );
    let NotifierKind::Email(e) = &n[0].kind else {
        panic!("email")
    };
    assert_eq!((e.tls, e.port), (SmtpTls::StartTls, 587));
    assert_eq!(
        (
            e.username.as_deref(),
            e.password.as_ref().map(|p| p.0.as_str())
        ),
        (Some("alerts"), Some("hunter2"))
    );
    assert_eq!(e.from, "Gatehouse <alerts@example.com>");
    assert_eq!(e.to.len(), 2);
    assert!(
        matches!(&n[1].kind, NotifierKind::Email(e) if e.tls == SmtpTls::None && e.port == 2525 && e.password.is_none())
    );
    assert!(matches!(&n[2].kind, NotifierKind::Email(e) if e.tls == SmtpTls::Tls && e.port == 465));
}

#[test]
fn ntfy_and_telegram() {
    let n = notifiers(
        r#"    - { name: phone, type: ntfy, topic: gatehouse-alerts }
    - { name: self-hosted, type: ntfy, url: "http://127.0.0.1:8090", topic: ops, token: tk_abc }
    - { name: tg, type: telegram, bot_token: "123456:AAE-x_y", chat_id: -1001234567890 }
    - { name: tg2, type: telegram, bot_token: "1:a", chat_id: "@ops", api_url: "http://127.0.0.1:9/" }
"#,
    );
    let NotifierKind::Ntfy(t) = &n[0].kind else {
        panic!("ntfy")
    };
    assert_eq!(
        (t.url.as_str(), t.topic.as_str(), t.token.is_none()),
        ("https://ntfy.sh", "gatehouse-alerts", true)
    );
    assert!(
        matches!(&n[1].kind, NotifierKind::Ntfy(t) if t.token == Some(Secret("tk_abc".into())))
    );
    let NotifierKind::Telegram(t) = &n[2].kind else {
        panic!("telegram")
    };
    assert_eq!(
        (t.chat_id.as_str(), t.api_url.as_str()),
        ("-1001234567890", "https://api.telegram.org")
    );
    assert!(
        matches!(&n[3].kind, NotifierKind::Telegram(t) if t.chat_id == "@ops" && t.api_url == "http://127.0.0.1:9")
    );
}

#[test]
fn unknown_type_lists_the_valid_ones() {
    let line = has(
        "    - { name: a, type: slack, webhook_url: \"https://x.example\" }\n    - name: b\n      type: pigeon\n",
        "alerting.notifiers[1].type",
        "unknown notifier type `pigeon`; expected one of: webhook, slack, discord, teams, pagerduty, opsgenie, email, ntfy, telegram",
    );
    assert_eq!(line, 10);
}

#[test]
fn unknown_field_is_named_with_its_path() {
    let yaml = "    - { name: a, type: slack, webhook_url: \"https://x.example\" }\n    - { name: b, type: webhook, url: \"https://x.example\" }\n    - name: c\n      type: discord\n      webhok_url: https://x.example\n";
    let line = has(
        yaml,
        "alerting.notifiers[2].webhok_url",
        "unknown field `webhok_url`",
    );
    assert_eq!(line, 12);
}

#[test]
fn missing_required_fields() {
    has(
        "    - { name: pd, type: pagerduty }\n",
        "alerting.notifiers[0]",
        "missing field `routing_key`",
    );
    has(
        "    - { type: slack, webhook_url: \"https://x.example\" }\n",
        "alerting.notifiers[0]",
        "missing field `name`",
    );
    has(
        "    - { name: x, webhook_url: \"https://x.example\" }\n",
        "alerting.notifiers[0]",
        "missing field `type`",
    );
    has(
        "    - { name: m, type: email, host: h, from: a@b.c }\n",
        "alerting.notifiers[0]",
        "missing field `to`",
    );
    has(
        "    - { name: m, type: email, host: h, from: a@b.c, to: [] }\n",
        "alerting.notifiers[0].to",
        "at least one recipient",
    );
    has(
        "    - { name: pd, type: pagerduty, routing_key: \"${EMPTY}\" }\n",
        "alerting.notifiers[0].routing_key",
        "must not be empty",
    );
    has(
        "    - { name: pd, type: pagerduty, routing_key: \"${NOT_SET}\" }\n",
        "alerting.notifiers[0].routing_key",
        "NOT_SET",
    );
}

#[test]
fn bad_urls_show_the_host_but_not_the_secret_path() {
    let yaml = r#"    - { name: a, type: slack, webhook_url: "hooks.slack.com/services/T0/B0/SECRETPART" }
    - { name: b, type: webhook, url: "ftp://example.com/x" }
    - { name: c, type: pagerduty, routing_key: k, url: "https:///v2/enqueue" }
    - { name: d, type: ntfy, topic: t, url: "http://exa mple.com" }
    - { name: e, type: teams, webhook_url: "" }
"#;
    let p = problems(yaml);
    let at = |path: &str| {
        p.iter()
            .find(|(pa, _, _)| pa == path)
            .map(|(_, _, m)| m.clone())
            .unwrap_or_else(|| panic!("no problem at {path}: {p:?}"))
    };
    let a = at("alerting.notifiers[0].webhook_url");
    assert!(a.contains("must start with http:// or https://"), "{a}");
    assert!(
        a.contains("hooks.slack.com") && !a.contains("SECRETPART"),
        "{a}"
    );
    assert!(at("alerting.notifiers[1].url").contains("must start with http://"));
    assert!(at("alerting.notifiers[2].url").contains("has no host"));
    assert!(at("alerting.notifiers[3].url").contains("spaces"));
    assert!(at("alerting.notifiers[4].webhook_url").contains("must not be empty"));
}

#[test]
fn duplicate_and_invalid_names() {
    let line = has(
        "    - { name: ops, type: ntfy, topic: a }\n    - { name: ops, type: ntfy, topic: b }\n",
        "alerting.notifiers[1].name",
        "duplicate notifier name `ops`",
    );
    assert_eq!(line, 9);
    has(
        "    - { name: \"on call\", type: ntfy, topic: a }\n",
        "alerting.notifiers[0].name",
        "not a valid name",
    );
}

#[test]
fn email_mistakes() {
    has(
        "    - { name: m, type: email, host: h, tls: ssl, from: a@b.c, to: [d@e.f] }\n",
        "alerting.notifiers[0].tls",
        "unknown variant `ssl`, expected one of `starttls`, `tls`, `none`",
    );
    has(
        "    - { name: m, type: email, host: h, from: nobody, to: [d@e.f] }\n",
        "alerting.notifiers[0].from",
        "`nobody` is not an email address",
    );
    has(
        "    - { name: m, type: email, host: h, from: a@b.c, to: [d@e.f, \"x y@z\"] }\n",
        "alerting.notifiers[0].to[1]",
        "not an email address",
    );
    has(
        "    - { name: m, type: email, host: h, username: u, from: a@b.c, to: [d@e.f] }\n",
        "alerting.notifiers[0].password",
        "is needed with `username`",
    );
    has(
        "    - { name: m, type: email, host: \"smtp://h\", from: a@b.c, to: [d@e.f] }\n",
        "alerting.notifiers[0].host",
        "not a host name",
    );
    has(
        "    - { name: m, type: email, host: h, port: 0, from: a@b.c, to: [d@e.f] }\n",
        "alerting.notifiers[0].port",
        "port number",
    );
}

#[test]
fn kind_specific_mistakes() {
    has(
        "    - { name: w, type: webhook, url: \"https://x.example\", template: \"{{title}} {{labels}}\" }\n",
        "alerting.notifiers[0].template",
        "unknown placeholder `{{labels}}`; expected one of: {{title}}",
    );
    has(
        "    - { name: w, type: webhook, url: \"https://x.example\", template: \"{{title\" }\n",
        "alerting.notifiers[0].template",
        "not closed",
    );
    has(
        "    - { name: w, type: webhook, url: \"https://x.example\", headers: { Content-Type: text/plain } }\n",
        "alerting.notifiers[0].headers.Content-Type",
        "content_type",
    );
    has(
        "    - { name: t, type: telegram, bot_token: \"no-colon\", chat_id: 1 }\n",
        "alerting.notifiers[0].bot_token",
        "not a bot token",
    );
    has(
        "    - { name: t, type: telegram, bot_token: \"1:a/../x\", chat_id: 1 }\n",
        "alerting.notifiers[0].bot_token",
        "not a bot token",
    );
    has(
        "    - { name: n, type: ntfy, topic: \"a/b\" }\n",
        "alerting.notifiers[0].topic",
        "not a topic",
    );
    has(
        "    - { name: n, type: ntfy, topic: a, timeout: 0s }\n",
        "alerting.notifiers[0].timeout",
        "longer than zero",
    );
    has(
        "    - { name: n, type: ntfy, topic: a, timeout: soon }\n",
        "alerting.notifiers[0].timeout",
        "",
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let p = problems(
        "    - { name: a, type: pigeon }\n    - { name: b, type: slack, webhook_url: nope }\n    - { name: c, type: opsgenie, api_key: k, extra: 1 }\n",
    );
    let paths: Vec<&str> = p.iter().map(|(pa, _, _)| pa.as_str()).collect();
    assert_eq!(
        paths,
        [
            "alerting.notifiers[0].type",
            "alerting.notifiers[1].webhook_url",
            "alerting.notifiers[2].extra"
        ]
    );
}

#[test]
fn content_type_without_template_is_a_warning() {
    let c = parse(
        "    - { name: w, type: webhook, url: \"https://x.example\", content_type: text/plain }\n",
    )
    .unwrap();
    assert!(c
        .warnings
        .iter()
        .any(|w| w.path == "alerting.notifiers[0].content_type" && w.message.contains("template")));
}
